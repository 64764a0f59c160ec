"""An instance's limits: its memory (``memory.py``), its CPU share, which follows its memory (``cpu.py``), its
processes and open files (``processes.py``), and who it runs as (``identity.py``).

Every runtime (python, provided, http) asks ``InstanceLimits`` for the fields of a child's spec, and the child
enters them before it runs user code (``worker.enter_limits``): it joins the listed cgroups and, for the memory
fallback, sets an rlimit. The cgroups of an instance are removed when it stops (``release``), the platform's
when it closes, and a dead platform's at the next start (``cgroups.sweep_abandoned``, per hierarchy).
"""

from __future__ import annotations

from typing import Any

from hearth.pool.limits.cpu import CgroupCpu, CpuLimiter, NoCpuLimit, cpu_quota, cpu_share, detect_cpu_limiter
from hearth.pool.limits.identity import IdentityPolicy, SameUser, detect_identities
from hearth.pool.limits.memory import CgroupV1Memory, MemoryLimiter, RlimitMemory, detect_memory_limiter
from hearth.pool.limits.processes import (
    CgroupPids,
    NoProcessLimit,
    ProcessLimiter,
    RlimitProcesses,
    detect_process_limiter,
)

__all__ = ["CgroupCpu", "CgroupPids", "CgroupV1Memory", "CpuLimiter", "IdentityPolicy", "InstanceLimits",
           "MemoryLimiter", "NoCpuLimit", "NoProcessLimit", "ProcessLimiter", "RlimitMemory", "RlimitProcesses",
           "SameUser", "cpu_quota", "cpu_share", "detect_cpu_limiter", "detect_identities", "detect_limits",
           "detect_memory_limiter", "detect_process_limiter"]


class InstanceLimits:
    """The memory, CPU and process limiters and the identity policy together, as the runtimes use them."""

    def __init__(self, memory: MemoryLimiter, cpu: CpuLimiter | None = None,
                 processes: ProcessLimiter | None = None, identity: IdentityPolicy | None = None) -> None:
        self.memory = memory
        self.cpu: CpuLimiter = cpu or NoCpuLimit("not requested")
        self.processes: ProcessLimiter = processes or NoProcessLimit()
        self.identity: IdentityPolicy = identity or SameUser("not requested")

    def prepare(self, instance_id: int, memory_mb: int, function: str | None = None,
                code_dir: str = "") -> dict[str, Any]:
        """Fields for the instance's spec: ``cgroups`` to join (each folder once: where two controllers share a
        hierarchy their cgroups are one folder), the memory fallback's rlimit, the process and file rlimits, and
        the identity of ``function`` (whose code is in ``code_dir``) with its home; ``function`` None: the instance
        keeps the identity it is started with (a sandbox's own)."""
        fields = {} if function is None else self.identity.prepare(instance_id, function, code_dir)
        fields.update(self.memory.prepare(instance_id, memory_mb))
        joined: list[str] = fields.get("cgroups", [])
        extra = self.processes.prepare(instance_id)
        for path in [*self.cpu.prepare(instance_id, memory_mb), *extra.pop("cgroups", [])]:
            if path not in joined:
                joined.append(path)
        fields.update(extra)
        if joined:
            fields["cgroups"] = joined
        return fields

    def started(self, instance_id: int, memory_mb: int) -> None:
        """The instance finished Init: it runs at its memory's CPU share from now on (Init is not throttled)."""
        self.cpu.throttle(instance_id, memory_mb)

    def oom_killed(self, instance_id: int) -> bool:
        """Whether the instance was stopped for exceeding its memory."""
        return self.memory.oom_killed(instance_id)

    def release(self, instance_id: int) -> None:
        """Kill whatever is left of the instance and remove its limits."""
        self.processes.release(instance_id)  # first: its cgroup holds even the processes that left the group
        self.memory.release(instance_id)
        self.cpu.release(instance_id)
        self.identity.release(instance_id)

    def close(self) -> bool:
        """Remove everything the limiters created; False while an instance killed just now is still exiting (its
        cgroups cannot go until it has: call again)."""
        processes = self.processes.close()
        memory = self.memory.close()
        done = self.cpu.close() and memory and processes
        if done:
            self.identity.close()
        return done


def detect_limits(memory_enforcement: str = "auto", cpu_follows_memory: bool = True,
                  instance_user: str = "self") -> InstanceLimits:
    """The strongest memory enforcement the host allows, the CPU share where a cpu controller is writable, the
    process limit (a pids cgroup, else rlimits) and the identity ``instance_user`` asks for (``identity.py``)."""
    memory = detect_memory_limiter(memory_enforcement)
    try:
        cpu = detect_cpu_limiter(cpu_follows_memory)
    except BaseException:
        memory.close()
        raise
    try:
        processes = detect_process_limiter()
    except BaseException:
        memory.close()
        cpu.close()
        raise
    try:
        identity = detect_identities(instance_user)
    except BaseException:
        memory.close()
        cpu.close()
        processes.close()
        raise
    return InstanceLimits(memory, cpu, processes, identity)
