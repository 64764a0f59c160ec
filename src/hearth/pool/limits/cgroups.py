"""Facts about the host's cgroup hierarchies, and the cleanup every per-instance cgroup shares.

Each limiter keeps its instances' cgroups under ``<our cgroup in that hierarchy>/hearth-<platform pid>/i<id>``.
``sweep_abandoned`` removes what a platform that died without cleaning up (SIGKILL, power loss) left in one
hierarchy; every limiter calls it on its own base when it is detected.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from hearth.errors import ServiceError
from hearth.processes import alive

ROOT_PREFIX = "hearth-"


def v1_mount(controller: str) -> Path | None:
    """Where the cgroup v1 hierarchy that has ``controller`` (``memory``, ``cpu``) is mounted, if one is."""
    for options, fstype, mount in _mounts():
        if fstype == "cgroup" and controller in options:
            return mount
    return None


def v2_mount() -> Path | None:
    """Where the cgroup v2 (unified) hierarchy is mounted, if it is."""
    for _, fstype, mount in _mounts():
        if fstype == "cgroup2":
            return mount
    return None


def _mounts() -> list[tuple[list[str], str, Path]]:
    """(super options, file system type, mount point) of each mount of this process."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = right.split()
        if len(fields) >= 3:
            mounts.append((fields[2].split(","), fields[0], Path(left.split()[4])))
    return mounts


def own_cgroup(controller: str) -> str:
    """This process's cgroup path in the v1 hierarchy of ``controller``, or in v2 for ``controller=""``."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hierarchy, controllers, path = line.split(":", 2)
            if controller and controller in controllers.split(","):
                return path
            if not controller and hierarchy == "0" and not controllers:
                return path
    except (OSError, ValueError):
        pass
    return ""


def base_of(mount: Path, own: str) -> Path:
    """Where our instance cgroups go in a hierarchy mounted at ``mount``: under our own cgroup when we can see
    it (a container may show only its own part of the tree), else at the mount's root."""
    inside = mount / own.lstrip("/")
    return inside if own and inside.is_dir() else mount


def platform_root(base: Path) -> Path:
    """This platform's folder of instance cgroups under ``base``."""
    return base / f"{ROOT_PREFIX}{os.getpid()}"


KILL_ROUNDS = 20  # a fork bomb may add processes while the list is read; its pids limit bounds how many


def open_joins(cgroups: list[str]) -> list[int]:
    """Descriptors through which a process that cannot reach ``cgroups`` (a sandboxed instance) joins them itself:
    each folder's ``tasks`` (v1) or ``cgroup.procs`` (v2), opened for writing here. The kernel checks the
    credentials of whoever opened the file, so the process writes ``0`` (itself, ``worker.join_through``) and
    closes them before any code of the function's runs; it never sees the folders or their limit files. Raises
    ``ServiceError`` (Hearth's fault: the instance's cgroups were just made), with nothing left open."""
    fds: list[int] = []
    try:
        for cgroup in cgroups:
            try:
                fds.append(os.open(cgroup + "/tasks", os.O_WRONLY | os.O_CLOEXEC))
            except FileNotFoundError:
                fds.append(os.open(cgroup + "/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        raise ServiceError(f"cannot open the cgroup {exc.filename} for a sandboxed instance to join: "
                           f"{exc.strerror or exc}") from None
    return fds


def kill_all(procs: Path) -> None:
    """SIGKILL every process listed in a ``cgroup.procs`` file, again while new ones appear (best effort)."""
    killed: set[int] = set()
    for _ in range(KILL_ROUNDS):
        try:
            pids = {int(pid) for pid in procs.read_text().split()}
        except (OSError, ValueError):
            return
        if pids <= killed:
            return  # (killed processes stay listed until they have exited)
        for pid in pids - killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        killed |= pids


def remove(path: Path) -> bool:
    """Kill what runs in the cgroup ``path`` and remove it; False while a process is still exiting."""
    kill_all(path / "cgroup.procs")
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def remove_tree(root: Path) -> None:
    """Kill what runs in ``root``'s instance cgroups and remove them and ``root`` (best effort)."""
    if not root.exists():
        return
    for child in root.iterdir():
        if child.is_dir():
            remove(child)
    try:
        root.rmdir()
    except OSError:
        pass


class InstanceGroups:
    """The instance cgroups ``root/i<id>`` of one limiter in one hierarchy: created, removed when the instance
    stops, and removed later if a process was still exiting then."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._leftovers: set[Path] = set()

    def path(self, instance_id: int) -> Path:
        return self.root / f"i{instance_id}"

    def create(self, instance_id: int) -> Path:
        """The instance's cgroup, new (also retries removing the ones left behind)."""
        for leftover in list(self._leftovers):
            if remove(leftover):
                self._leftovers.discard(leftover)
        path = self.path(instance_id)
        path.mkdir(exist_ok=True)
        return path

    def release(self, instance_id: int) -> None:
        """Kill whatever is left of the instance and remove its cgroup (or retry at the next ``create``)."""
        path = self.path(instance_id)
        if not remove(path):
            self._leftovers.add(path)

    def close(self) -> bool:
        """Remove every instance cgroup and the root; False while a killed process is still exiting."""
        remove_tree(self.root)
        self._leftovers.clear()
        return not self.root.exists()


def sweep_abandoned(base: Path) -> list[Path]:
    """Remove the ``hearth-<pid>`` cgroups of platforms that died without cleaning up (SIGKILL, power loss)."""
    removed = []
    for path in base.glob(ROOT_PREFIX + "*"):
        pid = path.name.removeprefix(ROOT_PREFIX)
        if not pid.isdigit() or alive(int(pid)):
            continue
        remove_tree(path)
        if not path.exists():
            removed.append(path)
    return removed


def writable_hierarchy(controller: str, write_limit: Callable[[Path, int], object]) -> tuple[Path, int] | str:
    """The base cgroup and hierarchy version (1 first, then 2) where this platform can make instance cgroups of
    ``controller`` and write a limit into one (``write_limit(path, version)``, tried on a throwaway cgroup); else
    why it cannot, for the start-up message."""
    reasons = []
    mount = v1_mount(controller)
    if mount is not None:
        base = base_of(mount, own_cgroup(controller))
        problem = _probe(controller, base, 1, write_limit)
        if problem is None:
            return base, 1
        reasons.append(f"the cgroup v1 {controller} controller at {mount} is not writable ({problem})")
    unified = v2_mount()
    if unified is not None:  # (a controller bound to a v1 hierarchy is never listed in v2)
        base = base_of(unified, own_cgroup(""))
        try:
            available = (base / "cgroup.controllers").read_text().split()
        except OSError:
            available = []
        if controller not in available:
            reasons.append(f"the cgroup v2 {controller} controller is not enabled for {base}")
        else:
            problem = _probe(controller, base, 2, write_limit)
            if problem is None:
                return base, 2
            reasons.append(f"the cgroup v2 {controller} controller at {base} is not writable ({problem}); Hearth "
                           "needs a delegated cgroup it does not itself run in (systemd: Delegate=yes)")
    if not reasons:
        reasons.append(f"no cgroup {controller} controller is mounted")
    return "; ".join(reasons)


def _probe(controller: str, base: Path, version: int, write_limit: Callable[[Path, int], object]) -> str | None:
    """Create the platform's root and a throwaway instance cgroup with a limit; None if that worked."""
    root = platform_root(base)
    try:
        sweep_abandoned(base)
        if version == 2:  # a cgroup gets a controller only if its parent hands it down
            handed = base / "cgroup.subtree_control"
            if controller not in handed.read_text().split():
                handed.write_text(f"+{controller}")  # refused (EBUSY) while base itself holds processes
        root.mkdir(exist_ok=True)
        if version == 2:
            (root / "cgroup.subtree_control").write_text(f"+{controller}")
        probe = root / "probe"
        probe.mkdir(exist_ok=True)
        try:
            write_limit(probe, version)
        finally:
            probe.rmdir()
        return None
    except OSError as exc:
        try:
            root.rmdir()
        except OSError:
            pass
        return exc.strerror or str(exc)
