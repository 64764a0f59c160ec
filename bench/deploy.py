"""Deploy time of a ~10 MB project to a running ``hearth serve``: cold, unchanged, and after a one-file change.

One ``hearth serve`` runs on free ports in a temporary data folder for the whole benchmark. The project holds
``app.py``, its ``hearth.toml`` and --mb megabytes of random bytes split over files of 1 MB (random data does
not compress, so the zip is as large as the project: the upload and the store really move ~10 MB).

  cold            a project whose data the server has never seen (fresh random bytes every run): pack, upload,
                  hash, extract into the code store, create the function's new $LATEST.
  unchanged       the same project again: pack, upload and hash, then nothing (the package is already stored,
                  no new revision).
  one-file change app.py edited between runs: a new package, stored and extracted, $LATEST updated.

Each row is the median and p99 (nearest rank, so with few runs it is the slowest run) over --runs runs of
``hearth deploy`` as a user runs it: "wall" is the whole command, interpreter start included; "in CLI" is the
time the command itself reports (load, pack, upload, apply). Every run is checked: its exit status, what it
says it did (stored / already stored; created / updated / unchanged) and one call through the gateway.

No peer platform is installed here, so there is no comparison column; the figures are Hearth's alone.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from _common import HTTP_TIMEOUT_S, BenchError, Service, markdown_table, percentile, start_platform

CHUNK = 1024 * 1024
DEPLOY_TIMEOUT_S = 300.0
APP = '''MARK = {mark!r}


def handler(event, context):
    return {{"mark": MARK}}
'''
MANIFEST = '''[functions.big]
handler = "app.handler"

[[routes]]
path = "/big"
function = "big"
'''


def start_serve(data_dir: Path) -> tuple[Service, str, str]:
    """``hearth serve`` on free ports with its state in ``data_dir``; returns it and its gateway and control URLs."""
    return start_platform("hearth serve", ["serve", "--data-dir", str(data_dir)])


def write_project(root: Path, megabytes: int, mark: str) -> None:
    """``app.py`` (returning ``mark``), the manifest and ``megabytes`` files of 1 MB of fresh random bytes."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "hearth.toml").write_text(MANIFEST, encoding="utf-8")
    (root / "app.py").write_text(APP.format(mark=mark), encoding="utf-8")
    for index in range(megabytes):
        (root / "data" / f"blob{index:03d}.bin").write_bytes(os.urandom(CHUNK))


class Deployer:
    """Runs ``hearth deploy`` against one server and checks what each run says and serves."""

    def __init__(self, gateway: str, control: str, data_dir: Path) -> None:
        self.gateway = gateway
        self.control = control
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HEARTH_TOKEN", "HEARTH_ENDPOINT")}

    def deploy(self, project: Path, stored: str, action: str, mark: str) -> tuple[float, float]:
        """One deploy: (wall seconds, seconds the CLI reports); raise unless it did what ``stored``/``action``
        say and the gateway then answers ``mark``."""
        command = [sys.executable, "-m", "hearth", "deploy", str(project), "--endpoint", self.control,
                   "--data-dir", str(self.data_dir)]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=DEPLOY_TIMEOUT_S)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise BenchError(f"hearth deploy failed (exit status {result.returncode}):\n{result.stderr[-2000:]}")
        said = re.search(r"deployed in ([\d.]+) s", result.stdout)
        package = re.search(r"^package \S+ \(\d+ files, (stored|already stored)\)$", result.stdout, re.MULTILINE)
        function = re.search(r"^\s+(created|updated|unchanged)\s+function big$", result.stdout, re.MULTILINE)
        if said is None or package is None or function is None:
            raise BenchError(f"unexpected hearth deploy output:\n{result.stdout}")
        if (package.group(1), function.group(1)) != (stored, action):
            raise BenchError(f"expected '{stored}' and '{action}', hearth deploy said:\n{result.stdout}")
        with urllib.request.urlopen(f"{self.gateway}/big", timeout=HTTP_TIMEOUT_S) as response:
            body = response.read().decode()
        if mark not in body:
            raise BenchError(f"the gateway answered {body!r} after the deploy, not mark {mark!r}")
        return wall, float(said.group(1))


def measure(runs: int, step: Callable[[int], tuple[float, float]]) -> tuple[list[float], list[float]]:
    walls, reported = [], []
    for run in range(runs):
        wall, said = step(run)
        walls.append(wall)
        reported.append(said)
    return walls, reported


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=10, help="megabytes of random data in the project (%(default)s)")
    parser.add_argument("--runs", type=int, default=7, help="runs of each kind (%(default)s)")
    args = parser.parse_args()
    if args.mb < 1 or args.runs < 1:
        parser.error("--mb and --runs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="hearth-bench-deploy-") as scratch:
        root = Path(scratch)
        data_dir = root / "data"
        service, gateway, control = start_serve(data_dir)
        try:
            deployer = Deployer(gateway, control, data_dir)
            cold_marks = iter(f"cold-{run}" for run in range(args.runs))

            def cold(run: int) -> tuple[float, float]:
                mark = next(cold_marks)
                project = root / f"cold-{run}"
                write_project(project, args.mb, mark)  # fresh random bytes: a package never seen
                return deployer.deploy(project, "stored", "created" if run == 0 else "updated", mark)

            rows = []
            walls, said = measure(args.runs, cold)
            rows.append(("cold", walls, said))

            project = root / f"cold-{args.runs - 1}"  # what the server runs now
            last_mark = f"cold-{args.runs - 1}"
            deployer.deploy(project, "already stored", "unchanged", last_mark)  # untimed warm-up of this kind
            walls, said = measure(args.runs, lambda _: deployer.deploy(project, "already stored", "unchanged",
                                                                       last_mark))
            rows.append(("unchanged", walls, said))

            def one_file(run: int) -> tuple[float, float]:
                mark = f"edit-{run}"
                (project / "app.py").write_text(APP.format(mark=mark), encoding="utf-8")
                return deployer.deploy(project, "stored", "updated", mark)

            walls, said = measure(args.runs, one_file)
            rows.append(("one-file change", walls, said))
            packages = sum(1 for p in (data_dir / "code").iterdir() if p.is_dir() and not p.name.startswith("."))
        finally:
            service.stop()
        problems = service.problems()

    expected = 2 * args.runs  # every cold and every edited run stores one package; unchanged ones store none
    print(f"Deploying a project of {args.mb} MB of random data ({args.runs} runs of each kind) to `hearth serve`")
    print()
    print(markdown_table(
        ["deploy", "wall p50 (s)", "wall p99 (s)", "in CLI p50 (s)", "in CLI p99 (s)"],
        [(name, f"{percentile(walls, 50):.3f}", f"{percentile(walls, 99):.3f}", f"{percentile(said, 50):.3f}",
          f"{percentile(said, 99):.3f}") for name, walls, said in rows]))
    print()
    print(f"code store after the runs: {packages} packages (expected {expected}: unchanged redeploys store nothing)")
    print("peer comparison: none — no other platform is installed here, so these are Hearth's figures alone")
    if problems:
        print("hearth serve printed problems:", *problems[:10], sep="\n  ")
    if packages != expected:
        raise BenchError(f"the code store holds {packages} packages, expected {expected}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        sys.exit(1)
