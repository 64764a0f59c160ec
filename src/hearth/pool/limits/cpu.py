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
    base_of,
    own_cgroup,
    platform_root,
    sweep_abandoned,
    v1_mount,
    v2_mount,
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
        quota = cpu_quota(memory_mb, self.cpus, self.period_us)
        if self.version == 1:
            (path / "cpu.cfs_period_us").write_text(str(self.period_us))
            (path / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (path / "cpu.max").write_text(f"{quota} {self.period_us}")

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
    reasons = []
    mount = v1_mount("cpu")
    if mount is not None:
        base = base_of(mount, own_cgroup("cpu"))
        limiter = CgroupCpu(platform_root(base), 1, usable_cpus(_own_limit_v1(base)))
        problem = _probe(limiter, base)
        if problem is None:
            return limiter
        reasons.append(f"the cgroup v1 cpu controller at {mount} is not writable ({problem})")
    unified = v2_mount()
    if unified is not None:  # (a controller bound to a v1 hierarchy is never listed in v2)
        base = base_of(unified, own_cgroup(""))
        try:
            available = (base / "cgroup.controllers").read_text().split()
        except OSError:
            available = []
        if "cpu" not in available:
            reasons.append(f"the cgroup v2 cpu controller is not enabled for {base}")
        else:
            limiter = CgroupCpu(platform_root(base), 2, usable_cpus(_own_limit_v2(base)))
            problem = _probe(limiter, base)
            if problem is None:
                return limiter
            reasons.append(f"the cgroup v2 cpu controller at {base} is not writable ({problem}); Hearth needs a "
                           "delegated cgroup it does not itself run in (systemd: Delegate=yes)")
    if not reasons:
        reasons.append("no cgroup cpu controller is mounted")
    return NoCpuLimit("; ".join(reasons))


def _probe(limiter: CgroupCpu, base: Path) -> str | None:
    """Create the platform's root and a throwaway instance cgroup with a quota; None if that worked."""
    root = limiter.root
    try:
        sweep_abandoned(base)
        if limiter.version == 2:  # a cgroup gets the cpu controller only if its parent hands it down
            handed = base / "cgroup.subtree_control"
            if "cpu" not in handed.read_text().split():
                handed.write_text("+cpu")  # refused (EBUSY) while base itself holds processes, as ours does
        root.mkdir(exist_ok=True)
        if limiter.version == 2:
            (root / "cgroup.subtree_control").write_text("+cpu")
        probe = root / "probe"
        probe.mkdir(exist_ok=True)
        try:
            limiter.limit(probe, 128)
        finally:
            probe.rmdir()
        return None
    except OSError as exc:
        try:
            root.rmdir()
        except OSError:
            pass
        return exc.strerror or str(exc)
