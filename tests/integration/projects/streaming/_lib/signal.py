"""Files the tests and the apps use to tell each other that something happened (bounded waits, no sleeps in tests)."""

import os
import time

WAIT_S = 10.0
STEP_S = 0.005


def seen(path):
    """Wait (at most WAIT_S) for the file ``path`` to appear; whether it did."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(STEP_S)
    return os.path.exists(path)


def mark(path, text=""):
    """Create ``path`` (whole, by a rename) holding ``text``."""
    with open(path + ".tmp", "w") as file:
        file.write(text)
    os.replace(path + ".tmp", path)
