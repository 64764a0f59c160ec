"""Memory of processes and process trees, from /proc: what burst.py, density figures and many_functions.py read.

USS is Private_Clean + Private_Dirty (+ Private_Hugetlb): what the process alone holds, freed when it exits, so the
marginal cost of one more instance. PSS adds the process's share of pages it shares (the zygote's, libraries):
summed over a tree it is the tree's real footprint, with no page counted twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

MAX_TREE = 100_000  # processes walked in one tree at most


@dataclass(frozen=True, slots=True)
class Footprint:
    """Memory of one process or a sum over several, in KiB."""

    uss_kib: int
    pss_kib: int
    rss_kib: int
    processes: int


def smaps_rollup(pid: int) -> Footprint | None:
    """One process's footprint from /proc/PID/smaps_rollup, or None if it is gone (or not ours to read)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            fields[key] = int(rest.split()[0])
    if not fields:  # a zombie has no mappings
        return None
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0) + fields.get("Private_Hugetlb", 0)
    return Footprint(private, fields.get("Pss", 0), fields.get("Rss", 0), 1)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (children of all its threads), breadth first."""
    found = [pid]
    index = 0
    while index < len(found) and len(found) < MAX_TREE:
        current = found[index]
        index += 1
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            found.extend(int(child) for child in children)
    return found


def tree_footprint(pid: int) -> Footprint:
    """The summed footprint of ``pid`` and its descendants."""
    uss = pss = rss = count = 0
    for member in descendants(pid):
        footprint = smaps_rollup(member)
        if footprint is not None:
            uss += footprint.uss_kib
            pss += footprint.pss_kib
            rss += footprint.rss_kib
            count += 1
    return Footprint(uss, pss, rss, count)


def meminfo_kib(field: str) -> int:
    """A field of /proc/meminfo (``MemTotal``, ``MemAvailable``) in KiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/meminfo has no {field}")


def mem_total_kib() -> int:
    """MemTotal from /proc/meminfo."""
    return meminfo_kib("MemTotal")


def mem_used_kib() -> int:
    """What the whole machine uses, kernel included: MemTotal − MemAvailable."""
    return meminfo_kib("MemTotal") - meminfo_kib("MemAvailable")


class PeakSampler:
    """A thread that samples a tree's PSS every ``interval_s`` until stopped, keeping the peak; bounded in count."""

    def __init__(self, pid: int, interval_s: float = 0.1, max_samples: int = 3000) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.max_samples = max_samples
        self.peak = Footprint(0, 0, 0, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.samples < self.max_samples:
            self._sample()
            if self._stop.wait(self.interval_s):
                break
        self._sample()  # the last moment counts too: a burst can end between two samples

    def _sample(self) -> None:
        footprint = tree_footprint(self.pid)
        self.samples += 1
        if footprint.pss_kib > self.peak.pss_kib:
            self.peak = footprint

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
