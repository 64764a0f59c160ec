"""The web dashboard, served by the control API under ``/dashboard``: server-rendered pages over the control API's
own operations, behind a sign-in with the admin key (``sessions.py``) and CSRF checks (``csrf.py``)."""
