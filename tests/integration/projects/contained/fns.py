"""Handlers that try to escape their instance: a detached child, a fork bomb, a file descriptor leak, a flood."""

import os
import subprocess
import sys
import time

FORKS = 3000  # bounded: more than the instance's pids limit, so the limit is what stops the loop


def escape(event, context):
    """Start ``sleep 1000`` in a new session (out of the instance's process group) and return at once."""
    child = subprocess.Popen(["sleep", "1000"], start_new_session=True, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"child": child.pid}


def forkbomb(event, context):
    """Fork until fork() fails (or FORKS children run); every child sleeps and exits, never returning."""
    pids = []
    error = ""
    for _ in range(FORKS):
        try:
            pid = os.fork()
        except OSError as exc:
            error = exc.strerror or str(exc)
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        pids.append(pid)
    return {"forked": len(pids), "error": error, "pids": pids}


def files(event, context):
    """Open files until open() fails (at most 100,000)."""
    opened = []
    error = ""
    for _ in range(100_000):
        try:
            opened.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            error = exc.strerror or str(exc)
            break
    count = len(opened)
    for fd in opened:
        os.close(fd)
    return {"opened": count, "error": error}


def flood(event, context):
    """Write ``event["mb"]`` MiB to stdout, in lines or (``"lines": false``) with no newline at all."""
    block = ("x" * 1023 + "\n") if event.get("lines", True) else "x" * 1024
    for _ in range(event["mb"] * 1024):
        sys.stdout.write(block)
    sys.stdout.flush()
    return {"ok": True}


def hello(event, context):
    return {"hello": "world"}
