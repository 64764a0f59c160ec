"""Handlers for the `hearth serve` Lambda API tests (zipped by the tests and uploaded with CreateFunction)."""

import os
import sys

INSTANCE_PID = os.getpid()
MARK = "code-a"


def echo(event, context):
    return {"event": event, "mark": MARK, "v": os.environ.get("V"), "version": context.function_version,
            "pid": INSTANCE_PID}


def boom(event, context):
    raise ValueError("broken on purpose")


def chatty(event, context):
    # 100 lines of 100 characters: ten times Lambda's 4 KB log tail
    for number in range(100):
        print(f"line {number:03d} " + "x" * 91)
    print("last line", file=sys.stderr)
    return {"done": True}


def hold(event, context):
    """Stay busy until the test creates the file ``event["gate"]`` (bounded: gives up after 20 s)."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + 20
    while not Path(event["gate"]).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    return {"released": Path(event["gate"]).exists()}
