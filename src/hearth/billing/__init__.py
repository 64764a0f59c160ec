"""What running functions costs: power tuning (``tuning.py``: statistics, cost and recommendations;
``tuner.py``: running a function at several memory sizes)."""
