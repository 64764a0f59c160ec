"""Billing: metering invocations and provisioned concurrency, pricing them, cost reports, idle functions and
power tuning (``tuning.py``: statistics, cost and recommendations; ``tuner.py``: running a function at several
memory sizes)."""
