"""How an instance's memory limit is enforced on this host: a cgroup v1 memory controller, or RLIMIT_AS.

Both sit behind ``MemoryLimiter``; ``detect_memory_limiter`` picks the strongest one the host allows and says
why when it has to fall back. The cgroup enforces resident memory exactly and lets the kernel stop the instance;
RLIMIT_AS caps address space (``baseline + memory_mb``), which is approximate but needs no privilege.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Protocol

from hearth.processes import alive


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

    def close(self) -> None:
        """Remove everything this limiter created."""


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

    def close(self) -> None:
        pass


class CgroupV1Memory:
    """One memory cgroup per instance under ``<our cgroup>/hearth-<pid>``; the kernel OOM-kills an overrun."""

    name = "cgroup-v1"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"cgroup v1 memory controller ({root})"
        self._has_memsw = (root / "memory.memsw.limit_in_bytes").exists()

    def _dir(self, instance_id: int) -> Path:
        return self.root / f"i{instance_id}"

    def prepare(self, instance_id: int, memory_mb: int) -> dict[str, Any]:
        path = self._dir(instance_id)
        path.mkdir(exist_ok=True)
        limit = str(memory_mb * 1024 * 1024)
        (path / "memory.limit_in_bytes").write_text(limit)
        if self._has_memsw:
            try:  # without this, swap would let an instance exceed its limit instead of being stopped
                (path / "memory.memsw.limit_in_bytes").write_text(limit)
            except OSError:
                self._has_memsw = False
        return {"cgroup": str(path)}

    def oom_killed(self, instance_id: int) -> bool:
        path = self._dir(instance_id)
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
        path = self._dir(instance_id)
        _kill_all(path / "cgroup.procs")
        try:
            path.rmdir()
        except OSError:
            pass  # a process is still exiting; close() sweeps it

    def close(self) -> None:
        _remove_tree(self.root)


def _remove_tree(root: Path) -> None:
    """Kill what runs in ``root``'s instance cgroups and remove them and ``root`` (best effort)."""
    if not root.exists():
        return
    for child in root.iterdir():
        if child.is_dir():
            _kill_all(child / "cgroup.procs")
            try:
                child.rmdir()
            except OSError:
                pass
    try:
        root.rmdir()
    except OSError:
        pass


def sweep_abandoned(base: Path) -> list[Path]:
    """Remove the ``hearth-<pid>`` cgroups of platforms that died without cleaning up (SIGKILL, power loss)."""
    removed = []
    for path in base.glob("hearth-*"):
        pid = path.name.removeprefix("hearth-")
        if not pid.isdigit() or alive(int(pid)):
            continue
        _remove_tree(path)
        if not path.exists():
            removed.append(path)
    return removed



def _kill_all(procs: Path) -> None:
    try:
        pids = [int(pid) for pid in procs.read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def detect_memory_limiter(prefer: str = "auto") -> MemoryLimiter:
    """The strongest memory enforcement this host allows (``prefer``: auto, cgroup or rlimit)."""
    if prefer == "rlimit":
        return RlimitMemory("chosen by configuration")
    reason = ""
    mount = _memory_mount()
    if mount is None:
        reason = "no cgroup v1 memory controller is mounted"
    else:
        own = _own_memory_cgroup()
        base = mount / own.lstrip("/") if own and (mount / own.lstrip("/")).is_dir() else mount
        root = base / f"hearth-{os.getpid()}"
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


def _memory_mount() -> Path | None:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = right.split()
        if len(fields) >= 3 and fields[0] == "cgroup" and "memory" in fields[2].split(","):
            return Path(left.split()[4])
    return None


def _own_memory_cgroup() -> str:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                return path
    except (OSError, ValueError):
        pass
    return ""
