"""How an instance's memory limit is enforced on this host: a cgroup v1 memory controller, or RLIMIT_AS.

Both sit behind ``MemoryLimiter``; ``detect_memory_limiter`` picks the strongest one the host allows and says
why when it has to fall back. The cgroup enforces resident memory exactly and lets the kernel stop the instance;
RLIMIT_AS caps address space (``baseline + memory_mb``), which is approximate but needs no privilege.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from hearth.pool.limits.cgroups import InstanceGroups, base_of, own_cgroup, platform_root, sweep_abandoned, v1_mount


class MemoryLimiter(Protocol):
    """Prepares, inspects and cleans up the memory limit of one instance."""

    name: str
    description: str

    def prepare(self, instance_id: int, memory_mb: int) -> dict[str, Any]:
        """Fields for the instance spec that make the child enter its limit."""

    def oom_killed(self, instance_id: int) -> bool:
        """Whether the instance was stopped for exceeding its memory."""

    def release(self, instance_id: int) -> None:
        """Kill whatever is left of the instance and remove its limit."""

    def close(self) -> bool:
        """Remove everything this limiter created; False while a process in it is still exiting."""


class RlimitMemory:
    """RLIMIT_AS set by the child before it imports user code: the fallback that needs no privilege."""

    name = "rlimit"

    def __init__(self, reason: str = "") -> None:
        self.description = "RLIMIT_AS (address space, approximate)" + (f": {reason}" if reason else "")

    def prepare(self, instance_id: int, memory_mb: int) -> dict[str, Any]:
        return {"rlimit_as_mb": memory_mb}

    def oom_killed(self, instance_id: int) -> bool:
        return False  # the worker reports MemoryError itself

    def release(self, instance_id: int) -> None:
        pass

    def close(self) -> bool:
        return True


class CgroupV1Memory:
    """One memory cgroup per instance under ``<our cgroup>/hearth-<pid>``; the kernel OOM-kills an overrun."""

    name = "cgroup-v1"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.groups = InstanceGroups(root)
        self.description = f"cgroup v1 memory controller ({root})"
        self._has_memsw = (root / "memory.memsw.limit_in_bytes").exists()

    def prepare(self, instance_id: int, memory_mb: int) -> dict[str, Any]:
        path = self.groups.create(instance_id)
        limit = str(memory_mb * 1024 * 1024)
        (path / "memory.limit_in_bytes").write_text(limit)
        if self._has_memsw:
            try:  # without this, swap would let an instance exceed its limit instead of being stopped
                (path / "memory.memsw.limit_in_bytes").write_text(limit)
            except OSError:
                self._has_memsw = False
        return {"cgroups": [str(path)]}

    def oom_killed(self, instance_id: int) -> bool:
        path = self.groups.path(instance_id)
        try:
            control = (path / "memory.oom_control").read_text()
        except OSError:
            return False
        for line in control.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip() != "0":
                return True
        try:
            return int((path / "memory.failcnt").read_text()) > 0 and "under_oom 1" in control
        except (OSError, ValueError):
            return False

    def release(self, instance_id: int) -> None:
        self.groups.release(instance_id)

    def close(self) -> bool:
        return self.groups.close()


def detect_memory_limiter(prefer: str = "auto") -> MemoryLimiter:
    """The strongest memory enforcement this host allows (``prefer``: auto, cgroup or rlimit)."""
    if prefer == "rlimit":
        return RlimitMemory("chosen by configuration")
    reason = ""
    mount = v1_mount("memory")
    if mount is None:
        reason = "no cgroup v1 memory controller is mounted"
    else:
        base = base_of(mount, own_cgroup("memory"))
        root = platform_root(base)
        try:
            sweep_abandoned(base)
            root.mkdir(exist_ok=True)
            probe = root / "probe"
            probe.mkdir(exist_ok=True)
            (probe / "memory.limit_in_bytes").write_text(str(64 * 1024 * 1024))
            probe.rmdir()
            return CgroupV1Memory(root)
        except OSError as exc:
            reason = f"cgroup v1 memory controller at {mount} is not writable ({exc.strerror})"
            try:
                root.rmdir()
            except OSError:
                pass
    if prefer == "cgroup":
        from hearth.errors import ConfigError

        raise ConfigError(f"memory enforcement 'cgroup' requested but {reason}")
    return RlimitMemory(reason)
