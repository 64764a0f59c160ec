"""CPU follows memory: an instance gets ``memory_mb / 1769`` of a core, as on Lambda, through the cgroup cpu controller.

Lambda gives a function one full vCPU at 1,769 MB and scales the share linearly with memory (128 MB ≈ 7.2% of a
core, 3,538 MB = 2 cores); here the share is also capped at the CPUs this platform may use. It is enforced with CFS
bandwidth control in one cgroup per instance: cgroup v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``, or v2
``cpu.max``. ``detect_cpu_limiter`` probes which one the host lets us write and says why when neither.

The period is 20 ms, not the kernel's default 100 ms. The quota is spent within each period and an instance that
has used it waits for the next one, so a small share stalls a burst of work by up to ``period − quota``: 93 ms at
128 MB with 100 ms, 18.6 ms with 20 ms. 20 ms is also the shortest period that can still express 128 MB's share
exactly (1,447 µs; the kernel's smallest quota is 1 ms, which a 10 ms period would turn into 10%).

Init runs unthrottled: the instance joins its cgroup at fork with no quota, and the platform writes the quota when
Init is over (``throttle``: Python's READY, a provided runtime's first ``GET /next``, an HTTP server's first healthy
answer). Lambda's Init phase measurably runs faster than its handler at small sizes, and a throttled Init made a
128 MB cold start wait for several periods whenever Init needs more than one period's quota (a Go bootstrap's cold
start: p50 ~10 → ~38 ms; a Python hello world's Init, ~1.5 ms, about fits in one).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from hearth.pool.limits.cgroups import (
    InstanceGroups,
    platform_root,
    writable_hierarchy,
)

log = logging.getLogger("hearth.pool")
MB_PER_VCPU = 1769  # Lambda: one full vCPU at 1,769 MB
PERIOD_US = 20_000
MIN_QUOTA_US = 1000  # the kernel refuses a smaller cfs quota


def cpu_share(memory_mb: int, cpus: float) -> float:
    """The cores an instance with ``memory_mb`` gets: ``memory_mb / 1769``, at most ``cpus``."""
    return min(memory_mb / MB_PER_VCPU, cpus)


def cpu_quota(memory_mb: int, cpus: float, period_us: int = PERIOD_US) -> int:
    """Microseconds of CPU time per ``period_us`` for ``memory_mb`` (at least the kernel's 1 ms)."""
    return max(MIN_QUOTA_US, round(cpu_share(memory_mb, cpus) * period_us))


def write_quota(path: Path, version: int, quota_us: int, period_us: int) -> None:
    """Give the cgroup ``path`` ``quota_us`` of CPU time per ``period_us``."""
    if version == 1:
        (path / "cpu.cfs_period_us").write_text(str(period_us))
        (path / "cpu.cfs_quota_us").write_text(str(quota_us))
    else:
        (path / "cpu.max").write_text(f"{quota_us} {period_us}")


class CpuLimiter(Protocol):
    """Gives one instance its CPU share, and cleans up after it."""

    name: str
    description: str

    def prepare(self, instance_id: int, memory_mb: int) -> list[str]:
        """The cgroup folders the child joins (none when CPU is not limited); Init is not throttled."""

    def throttle(self, instance_id: int, memory_mb: int) -> None:
        """Init is over: from now on the instance runs at ``memory_mb``'s share."""

    def release(self, instance_id: int) -> None:
        """Remove the instance's cgroup (killing anything left in it)."""

    def close(self) -> bool:
        """Remove everything this limiter created; False while a process in it is still exiting."""


class NoCpuLimit:
    """Instances share the host's CPUs as ordinary processes; ``description`` says why."""

    name = "none"

    def __init__(self, reason: str) -> None:
        self.description = f"not limited: {reason}"

    def prepare(self, instance_id: int, memory_mb: int) -> list[str]:
        return []

    def throttle(self, instance_id: int, memory_mb: int) -> None:
        pass

    def release(self, instance_id: int) -> None:
        pass

    def close(self) -> bool:
        return True


class CgroupCpu:
    """One cpu cgroup per instance under ``<our cgroup>/hearth-<pid>`` with a CFS quota for its memory size."""

    def __init__(self, root: Path, version: int, cpus: float, period_us: int = PERIOD_US) -> None:
        self.root = root
        self.version = version  # 1: cpu.cfs_quota_us + cpu.cfs_period_us; 2: cpu.max
        self.cpus = cpus
        self.period_us = period_us
        self.groups = InstanceGroups(root)
        self.name = f"cgroup-v{version}"
        files = "cpu.cfs_quota_us" if version == 1 else "cpu.max"
        self.description = (f"cgroup v{version} cpu controller ({files}, {period_us // 1000} ms period; "
                            f"{MB_PER_VCPU} MB = 1 core, at most {cpus:g}; {root})")

    def prepare(self, instance_id: int, memory_mb: int) -> list[str]:
        return [str(self.groups.create(instance_id))]

    def throttle(self, instance_id: int, memory_mb: int) -> None:
        try:
            self.limit(self.groups.path(instance_id), memory_mb)
        except FileNotFoundError:
            pass  # the instance is gone already
        except OSError as exc:
            log.warning("cannot give instance %d its CPU share (%s): it runs unthrottled", instance_id,
                        exc.strerror or exc)

    def limit(self, path: Path, memory_mb: int) -> None:
        """Write ``memory_mb``'s quota into the cgroup ``path``."""
        write_quota(path, self.version, cpu_quota(memory_mb, self.cpus, self.period_us), self.period_us)

    def release(self, instance_id: int) -> None:
        self.groups.release(instance_id)

    def close(self) -> bool:
        return self.groups.close()


def usable_cpus(own_limit: float | None = None) -> float:
    """The CPUs this process may run on (its affinity), lowered to its own cgroup's quota when it has one."""
    try:
        cpus = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = float(os.cpu_count() or 1)
    return min(cpus, own_limit) if own_limit else cpus


def _own_limit_v1(own: Path) -> float | None:
    try:
        quota = int((own / "cpu.cfs_quota_us").read_text())
        period = int((own / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def _own_limit_v2(own: Path) -> float | None:
    try:
        quota, period = (own / "cpu.max").read_text().split()
        return int(quota) / int(period) if quota != "max" and int(period) > 0 else None
    except (OSError, ValueError):
        return None


def detect_cpu_limiter(enabled: bool = True) -> CpuLimiter:
    """CFS bandwidth control per instance where the host lets us write it (cgroup v1 first, then v2), else no
    limit with the reason."""
    if not enabled:
        return NoCpuLimit("turned off (--no-cpu-follows-memory)")
    found = writable_hierarchy("cpu", lambda path, version: write_quota(path, version, cpu_quota(128, 1.0),
                                                                         PERIOD_US))
    if isinstance(found, str):
        return NoCpuLimit(found)
    base, version = found
    own = _own_limit_v1(base) if version == 1 else _own_limit_v2(base)
    return CgroupCpu(platform_root(base), version, usable_cpus(own))
