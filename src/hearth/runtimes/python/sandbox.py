"""Sandboxed zygotes: the instances of an ``isolation = "sandbox"`` function fork from a zygote inside bubblewrap.

One zygote per (function version, code folder, network setting), started on the first cold start and kept while
the version has a pool, so only that first cold start pays for the sandbox and a fresh interpreter; the later
ones are a fork, as for any function. Inside, the instance sees a read-only system (``/usr``, a few files of
``/etc``, the interpreter's own installation and Hearth's source, each bound read-only at its own path), its
package read-only at ``/var/task``, a private ``/tmp`` (a tmpfs of the sandbox), its own ``/proc`` and ``/dev``,
and nothing else of the host: no ``/root``, no ``/home``, no other function's code, no secrets folder.

bwrap runs as the platform's user (root here: Hearth's interpreter lives under ``/root``, which no other user
may traverse) and unshares every namespace (``--unshare-all``): user (the sandbox runs as ``SANDBOX_UID``
without capabilities, and cannot make user namespaces of its own), mount, pid, ipc, uts, cgroup, and network
unless the function keeps it (``--share-net``). Without the network, bwrap gives it a loopback of its own.

Limits apply as outside, but the instance cannot reach its cgroups by name: it sees no cgroup files (bound into
the sandbox they would be writable by it, as its uid maps to the platform's user, and it could raise its own
memory limit). So the platform opens each of its cgroups' ``tasks`` (``cgroups.open_joins``) and passes the
descriptors with the spawn or exec request; the child writes ``0`` (itself) to each and closes them before
anything of the function's runs (``worker.join_through``). It never holds a limit file. (Until 2026-11-22 the
platform wrote the child's pid into ``cgroup.procs`` while the child waited: a move of another process takes the
kernel's global threadgroup lock, which after a quiet spell waited 5–20 ms, on the event loop.)

The zygote's pids are the sandbox's (pid namespace), meaningless to the platform, which kills process groups and
reads ``/proc/<pid>``: so each child says ``spawned`` itself on the control socket,
before it closes its copy, and the platform reads the child's host pid from the message's credentials
(``SO_PASSCRED``: the kernel translates the sender's pid into the receiver's namespace).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from hearth import errors
from hearth.model import FunctionSpec
from hearth.runtimes.python.runtime import Zygote

TASK_ROOT = "/var/task"  # where the package is, as on Lambda
PYCACHE = "/tmp/.hearth-pycache"  # compiled bytecode, in the sandbox's own /tmp (the package is read-only)
SANDBOX_UID = 993  # the uid (and gid) inside; Lambda's sbx_user1051 has 993
TMP_SIZE = 512 * 1024 * 1024  # Lambda's default ephemeral storage; tmpfs pages count against the memory cgroup
INSTALL_HINT = "install bubblewrap (apt-get install bubblewrap) to run functions with isolation = \"sandbox\""
# Read-only pieces of /etc a program may need (name resolution, TLS roots, time zone, the dynamic linker's cache);
# not passwd, shadow, or the host's configuration beyond these.
ETC = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/ssl", "/etc/ca-certificates",
       "/etc/pki", "/etc/localtime", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives")
MERGED_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # symlinks into /usr on merged-usr hosts
_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid
_CREDENTIALS_SPACE = socket.CMSG_SPACE(_CREDENTIALS.size)
START_TIMEOUT_S = 30.0


def find_bwrap() -> str | None:
    """The bubblewrap executable, if installed."""
    return shutil.which("bwrap") or shutil.which("bwrap", path="/usr/bin:/bin")


def bwrap_argv(bwrap: str, *, python: str, import_path: list[str], code_dir: str, network: bool) -> list[str]:
    """bwrap's command line, up to (not including) the command it runs."""
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-all", "--unshare-user", "--disable-userns",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    if network:
        argv.append("--share-net")
    argv += ["--ro-bind", "/usr", "/usr"]
    for path in MERGED_USR:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in ETC:
        argv += ["--ro-bind-try", path, path]
    # The sandbox's own /proc, /dev and /tmp before the folders bound below: one of those may live under /tmp (a
    # checkout there), and a tmpfs mounted after it would hide it (the zygote then found no module named hearth).
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    bound: list[str] = ["/usr"]
    # The interpreter's installation (binary, standard library, site-packages), then what else the zygote imports
    # from (Hearth's source): each folder by itself, at its own path, read-only; never a parent such as /root.
    install = os.path.dirname(os.path.dirname(os.path.realpath(python)))
    for entry in [install, *import_path]:
        folder = os.path.realpath(entry)
        if os.path.isdir(folder) and not any(folder == done or folder.startswith(done + os.sep) for done in bound):
            argv += ["--ro-bind", folder, folder]
            bound.append(folder)
    if not os.path.realpath(python).startswith(install + os.sep):
        argv += ["--ro-bind", python, python]
    argv += ["--ro-bind", code_dir, TASK_ROOT,
             "--remount-ro", "/",
             "--chdir", TASK_ROOT]
    return argv


def confine(child: dict[str, Any]) -> list[str]:
    """Rewrite a child spec made for the platform's view for the sandbox's: the code at ``TASK_ROOT``, the bytecode
    cache in the sandbox's /tmp; its cgroups are taken off it and returned, for the platform to open
    (``cgroups.open_joins``)."""
    child["code_dir"] = TASK_ROOT
    child["env"]["LAMBDA_TASK_ROOT"] = TASK_ROOT
    if "pycache" in child:
        child["pycache"] = f"{PYCACHE}/{os.path.basename(child['pycache'])}"
    cgroups: list[str] = child.pop("cgroups", None) or []
    return cgroups


def confine_exec(child: dict[str, Any], code_dir: Path) -> list[str]:
    """Rewrite an exec spec (``argv``, ``cwd``, ``env``, limits) for the sandbox: paths in the package under
    ``TASK_ROOT``; its cgroups are taken off it and returned, for the platform to open."""
    program = Path(child["argv"][0])
    if program.is_relative_to(code_dir):
        child["argv"][0] = str(PurePosixPath(TASK_ROOT, program.relative_to(code_dir)))
    child["cwd"] = TASK_ROOT
    if "LAMBDA_TASK_ROOT" in child["env"]:
        child["env"]["LAMBDA_TASK_ROOT"] = TASK_ROOT
    cgroups: list[str] = child.pop("cgroups", None) or []
    return cgroups


class SandboxZygote(Zygote):
    """A zygote started inside bubblewrap; its children report their host pid through socket credentials."""

    sandboxed = True

    def __init__(self, python: str, env: Mapping[str, str], bwrap: list[str], label: str) -> None:
        super().__init__(python, env)
        self.bwrap = bwrap
        self.label = label  # the function version, for messages
        # bwrap's own complaints (a path it cannot bind, no user namespaces), quoted if the sandbox does not start
        self.stderr = tempfile.TemporaryFile()
        self._said = b""

    def command(self, fd: int) -> list[str]:
        return [*self.bwrap, "--", *super().command(fd)]

    def control_socket_options(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def receive(self, sock: socket.socket) -> tuple[bytes, int, list[int]]:
        message, ancillary, _, _ = sock.recvmsg(65536, _CREDENTIALS_SPACE)
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= _CREDENTIALS.size:
                return message, int(_CREDENTIALS.unpack_from(data)[0]), []
        return message, 0, []

    def start_failure(self, detail: str) -> errors.HearthError:
        self.close()
        message = f"the sandbox of {self.label} did not start: {detail}"
        if self._said.strip():
            message += f": {self._said.decode(errors='replace').strip()}"
        return errors.SandboxUnavailable(message)

    def close(self) -> None:
        super().close()  # (waits for the process)
        if self.stderr is not None:
            self.stderr.seek(0)
            self._said = self.stderr.read()[-2000:]
            self.stderr.close()
            self.stderr = None


class Sandboxes:
    """The sandboxed zygotes of one platform, by (function, version, code folder, network)."""

    def __init__(self, python: str, env: Mapping[str, str], import_path: list[str], *,
                 locate: Callable[[], str | None] = find_bwrap) -> None:
        self.locate = locate  # finds bwrap (a seam: tests give one that finds none, or a failing one)
        self.python = python
        self.env = dict(env)
        self.import_path = import_path
        self.zygotes: dict[tuple[str, str, str, bool], SandboxZygote] = {}
        self._locks: dict[tuple[str, str, str, bool], asyncio.Lock] = {}

    async def zygote(self, spec: FunctionSpec) -> SandboxZygote:
        """The running zygote of ``spec``'s sandbox, started (or restarted, after a crash) if need be; raises
        ``SandboxUnavailable``."""
        key = (spec.name, spec.version, str(spec.code_dir), spec.network)
        zygote = self.zygotes.get(key)
        if zygote is not None and zygote.alive:
            return zygote
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            zygote = self.zygotes.get(key)
            if zygote is not None and zygote.alive:
                return zygote
            bwrap = self.locate()
            if bwrap is None:
                raise errors.SandboxUnavailable(f"{spec.name} has isolation = \"sandbox\" but bwrap is not installed: "
                                                f"{INSTALL_HINT}")
            self._retire_stale(spec.name, spec.version, key)
            argv = bwrap_argv(bwrap, python=self.python, import_path=self.import_path, code_dir=str(spec.code_dir),
                              network=spec.network)
            zygote = SandboxZygote(self.python, self.env, argv, f"{spec.name}:{spec.version}")
            await zygote.start(START_TIMEOUT_S)
            self.zygotes[key] = zygote
            return zygote

    def _retire_stale(self, name: str, version: str, keep: tuple[str, str, str, bool]) -> None:
        """Close the version's other zygotes (an older code folder, another network setting) that have no
        instances left."""
        for key, zygote in list(self.zygotes.items()):
            if key[:2] == (name, version) and key != keep and not zygote.busy:
                zygote.close()
                del self.zygotes[key]

    def retire(self, name: str, version: str | None = None) -> None:
        """Close the zygotes of a function's version (every version: ``None``) whose pool closed."""
        for key, zygote in list(self.zygotes.items()):
            if key[0] == name and (version is None or key[1] == version):
                zygote.close()
                del self.zygotes[key]
                self._locks.pop(key, None)

    def close(self) -> None:
        for zygote in self.zygotes.values():
            zygote.close()
        self.zygotes.clear()
        self._locks.clear()

