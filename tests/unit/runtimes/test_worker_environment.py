"""The instance's environment: the function's variables replace the zygote's, and its code imports from its folder."""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path

import orjson

from hearth.runtimes.python import worker


def test_environment_and_code_folder(tmp_path: Path) -> None:
    (tmp_path / "fn_module.py").write_text("def handler(event, context):\n    return 7\n")
    spec = {"code_dir": str(tmp_path), "env": {"ONLY_THIS": "1", "PATH": "/usr/bin"}}
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            worker._ZYGOTE_ENV_NAMES = tuple(os.environ)  # as the zygote's: pytest set variables since the import
            worker._enter_environment(spec)
            handler = worker._load_handler("fn_module.handler")
            os.write(write_end, orjson.dumps({
                "environ": dict(os.environ), "cwd": os.getcwd(), "path0": sys.path[0], "result": handler({}, None),
                "finder": type(sys.path_importer_cache[str(tmp_path)]).__name__,
            }))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        seen = orjson.loads(pipe.read())
    os.waitpid(pid, 0)
    assert seen["environ"] == spec["env"]  # every name the zygote had and the function has not is gone
    assert seen["cwd"] == seen["path0"] == str(tmp_path)
    assert seen["result"] == 7
    assert seen["finder"] == importlib.machinery.FileFinder.__name__
