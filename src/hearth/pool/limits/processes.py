"""An instance's processes and open files: at most 1,024 of each, as on Lambda, and nothing outlives the instance.

The process limit is a cgroup ``pids`` controller per instance (v1 ``pids.max``, or v2 where delegated): a fork
bomb gets ``EAGAIN`` from ``fork()`` once the instance holds ``MAX_PROCESSES`` tasks (threads count), and the
platform and other instances keep running. The cgroup also holds every process the instance started, even one
that left its process group with ``setsid``: ``release`` kills them all when the instance stops, which the process
group alone cannot. Where no pids controller is writable, ``RLIMIT_NPROC`` is the fallback; it counts every process
of the user and does not bind root, so it is weaker (the description says so).

Open files are capped with ``RLIMIT_NOFILE`` (Lambda: 1,024) by every limiter, so a leak fails the function
with ``EMFILE`` instead of exhausting the host.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Protocol

from hearth.pool.limits.cgroups import (
    InstanceGroups,
    platform_root,
    writable_hierarchy,
)

log = logging.getLogger("hearth.pool")
MAX_PROCESSES = 1024  # Lambda: processes and threads per execution environment
MAX_OPEN_FILES = 1024  # Lambda: file descriptors per execution environment


class ProcessLimiter(Protocol):
    """Caps one instance's processes and open files, and kills what it left when it stops."""

    name: str
    description: str

    def prepare(self, instance_id: int) -> dict[str, Any]:
        """Fields for the child's spec: ``cgroups`` to join and rlimits to set."""

    def release(self, instance_id: int) -> None:
        """Kill every process the instance left and remove its cgroup."""

    def close(self) -> bool:
        """Remove everything this limiter created; False while a process in it is still exiting."""


class NoProcessLimit:
    """No limit on processes or open files (what a bare ``InstanceLimits`` gets); ``description`` says why."""

    name = "none"

    def __init__(self, reason: str = "not requested") -> None:
        self.description = f"not limited: {reason}"

    def prepare(self, instance_id: int) -> dict[str, Any]:
        return {}

    def release(self, instance_id: int) -> None:
        pass

    def close(self) -> bool:
        return True


class RlimitProcesses:
    """The fallback: ``RLIMIT_NPROC`` (per user, not binding root) and ``RLIMIT_NOFILE``."""

    name = "rlimit"

    def __init__(self, reason: str, processes: int = MAX_PROCESSES, open_files: int = MAX_OPEN_FILES) -> None:
        self.processes = processes
        self.open_files = open_files
        self.description = (f"RLIMIT_NPROC {processes} (per user; root is exempt) and RLIMIT_NOFILE {open_files}: "
                            f"{reason}")

    def prepare(self, instance_id: int) -> dict[str, Any]:
        return {"rlimit_nproc": self.processes, "rlimit_nofile": self.open_files}

    def release(self, instance_id: int) -> None:
        pass

    def close(self) -> bool:
        return True


class CgroupPids:
    """One pids cgroup per instance under ``<our cgroup>/hearth-<pid>`` with ``pids.max``, plus ``RLIMIT_NOFILE``."""

    def __init__(self, root: Path, version: int, processes: int = MAX_PROCESSES,
                 open_files: int = MAX_OPEN_FILES) -> None:
        self.root = root
        self.version = version
        self.processes = processes
        self.open_files = open_files
        self.groups = InstanceGroups(root)
        self.name = f"cgroup-v{version}"
        self.description = (f"cgroup v{version} pids controller (pids.max {processes}; {root}) and "
                            f"RLIMIT_NOFILE {open_files}")

    def prepare(self, instance_id: int) -> dict[str, Any]:
        path = self.groups.create(instance_id)
        (path / "pids.max").write_text(str(self.processes))
        return {"cgroups": [str(path)], "rlimit_nofile": self.open_files}

    def release(self, instance_id: int) -> None:
        self.groups.release(instance_id)

    def close(self) -> bool:
        return self.groups.close()


def detect_process_limiter(processes: int = MAX_PROCESSES, open_files: int = MAX_OPEN_FILES) -> ProcessLimiter:
    """A pids cgroup per instance where the host lets us write one (v1 first, then v2), else the rlimit fallback."""
    found = writable_hierarchy("pids", lambda path, version: (path / "pids.max").write_text(str(processes)))
    if not isinstance(found, str):
        base, version = found
        return CgroupPids(platform_root(base), version, processes, open_files)
    if os.geteuid() == 0:
        log.warning("processes of an instance are not limited (%s); RLIMIT_NPROC does not bind root", found)
    return RlimitProcesses(found, processes, open_files)
