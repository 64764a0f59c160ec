"""bench/gateway_path.py still runs against the real gateway and platform, and counts what a request costs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gateway_path.py"


def test_it_counts_the_bytecodes_of_a_warm_request() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--traced", "50", "--timed", "200", "--top", "40"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    bytecodes = int(re.search(r"^bytecodes per request: (\d+)$", done.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert 500 < bytecodes < 20_000
    # the fake instance answered every request, and the path went through the gateway, the pool and the instance
    for function in ("gateway/app.py:_function", "pool/pool.py:invoke", "runtimes/python/instance.py:invoke"):
        assert f"`hearth/{function}`" in done.stdout
