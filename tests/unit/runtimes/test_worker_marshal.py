"""A result orjson cannot serialize is Runtime.MarshalError without importing numpy; numpy results still work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

RUN = """
import sys, orjson
from hearth.runtimes.python import protocol, worker
spec = {"function": "f", "version": "$LATEST", "arn": "", "memory_mb": 128, "log_group": "", "log_stream": ""}
body = orjson.dumps({"id": "r1", "deadline_ms": 0, "trace_id": None, "event": {}})
frame, fatal = worker._Runner(spec, HANDLER).invoke(body)
print(frame[protocol.HEADER.size + protocol.RESULT_HEAD.size:].decode(), "numpy" in sys.modules)
"""


def run(handler: str) -> str:
    code = RUN.replace("HANDLER", handler)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_unmarshalable_result_does_not_import_numpy() -> None:
    shown = run("lambda event, context: {'value': object()}")
    assert "Runtime.MarshalError" in shown and "Type is not JSON serializable: object" in shown
    assert shown.endswith("False")


def test_a_handler_that_uses_numpy_can_return_numpy_values() -> None:
    pytest.importorskip("numpy", reason="numpy is not installed")
    shown = run("lambda event, context: __import__('numpy').arange(3)")
    assert shown.startswith("[0,1,2]") and shown.endswith("True")
