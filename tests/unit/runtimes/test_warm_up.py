"""The zygote's warm-up runs the invocation path in-process and must leave nothing behind."""

from __future__ import annotations

import os
import sys

from hearth.runtimes.python import worker


def test_warm_up_leaves_no_trace() -> None:
    path_before = list(sys.path)
    write_bytecode = sys.dont_write_bytecode
    folder = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"hearth-warm-up-{os.getpid()}")
    worker.warm_up()
    assert sys.path == path_before
    assert worker.WARM_UP_MODULE not in sys.modules
    assert folder not in sys.path_importer_cache
    assert not os.path.exists(folder)
    assert sys.dont_write_bytecode == write_bytecode
