"""The platform side of the Python runtime: the zygote client and the factory of ``PythonInstance``s."""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol

import orjson

from hearth.errors import HearthError, ServiceError
from hearth.model import FunctionSpec
from hearth.pool.deadlines import DeadlineSweep
from hearth.pool.limits import InstanceLimits
from hearth.runtimes.environment import SecretSource, function_environment, log_stream_name, no_secrets
from hearth.runtimes.python.instance import PythonInstance

if TYPE_CHECKING:
    from hearth.runtimes.python.sandbox import Sandboxes

_SOURCE_ROOT = str(Path(__file__).resolve().parents[3])  # the folder holding the ``hearth`` package
# The zygote runs with -S -I: no site processing, whose .pth side effects (imports of threading, random, …) would
# add Python-level at-fork hooks and private pages to every instance. It gets the platform's resolved sys.path
# instead, so instances import exactly what the platform can.
_BOOT = ("import sys; sys.path[:] = {path!r}; from hearth.runtimes.python.zygote import main; "
         "main({fd}, sandboxed={sandboxed}, grant={grant})")


CLOSE_RETRIES = 50
CLOSE_RETRY_S = 0.02
SPARE_FAILURES = 3  # spares in a row that ended unclaimed (or were never forked) before the zygote stops making them


class Spawned(Protocol):
    """What the zygote reports to: an instance it forked."""

    id: int

    def on_spawned(self, pid: int) -> None: ...

    def on_exit(self, status: int | None, error: str | None = None) -> None: ...


class _StartFailed(Exception):
    """The zygote exited before it was ready."""


class _Spare(NamedTuple):
    """A child the zygote forked ahead of need (``zygote.py``), waiting on ``socket`` for its spawn request."""

    id: int
    pid: int
    socket: socket.socket


class Zygote:
    """A running zygote process and the SEQPACKET socket to it.

    It keeps one spare child forked ahead (``zygote.py``): a spawn or exec request goes straight to the spare when
    there is one, and the zygote is asked for the next. A spare that ends unclaimed is replaced, until
    ``SPARE_FAILURES`` in a row have: then cold starts fork as they come."""

    sandboxed = False  # its children report their own spawn (sandbox.py: the pids it sees are not the host's)
    stderr: IO[bytes] | None = None  # where its own stderr goes: the platform's, unless a subclass keeps it

    def __init__(self, python: str, env: Mapping[str, str], *, grant: bool = False) -> None:
        self.python = python
        self.env = dict(env)  # the instance base environment: children only add to it
        self.grant = grant  # instances drop to other uids: open the import folders they cannot reach
        self.process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._instances: dict[int, Spawned] = {}
        self._backlog: collections.deque[tuple[int, bytes, list[int]]] = collections.deque()  # (id, request, fds)
        self._ready: asyncio.Future[None] | None = None
        self._spare: _Spare | None = None
        self._spare_asked: int | None = None  # the id of the spare asked for and not yet arrived
        self._spare_ids = itertools.count(-1, -1)  # negative: instance ids are positive
        self._spare_failures = 0

    @property
    def alive(self) -> bool:
        return self._socket is not None

    async def start(self, timeout_s: float = 30.0) -> None:
        """Start the zygote and wait until it has pre-imported the runtime."""
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control_socket_options(ours)
        try:
            self.process = subprocess.Popen(
                self.command(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, close_fds=True, env=self.env,
                stderr=self.stderr,
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self._socket = ours
        self._spare_failures = 0
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)
        try:
            await asyncio.wait_for(self._ready, timeout_s)
        except TimeoutError:
            self.close()
            raise self.start_failure(f"not ready within {timeout_s:g} s") from None
        except _StartFailed as exc:
            raise self.start_failure(str(exc)) from None

    def command(self, fd: int) -> list[str]:
        """The zygote's command line; ``fd`` is its end of the control socket."""
        boot = _BOOT.format(path=self.import_path(), fd=fd, sandboxed=self.sandboxed, grant=self.grant)
        return [self.python, "-S", "-I", "-c", boot]

    def control_socket_options(self, sock: socket.socket) -> None:
        """Set options on the platform's end of the control socket before the zygote starts (none here)."""

    def receive(self, sock: socket.socket) -> tuple[bytes, int, list[int]]:
        """One message from the zygote, its sender's pid as the platform sees it (0: not known) and the descriptors
        it carried."""
        message, fds, _, _ = socket.recv_fds(sock, 65536, 1)
        return message, 0, fds

    def start_failure(self, detail: str) -> HearthError:
        """The error a zygote that did not start is reported as."""
        return ServiceError(f"the Python zygote ({self.python}) did not start: {detail}")

    @property
    def busy(self) -> bool:
        """Whether any process it started is still running."""
        return bool(self._instances)

    def import_path(self) -> list[str]:
        """The platform's own import path (site-packages included), with Hearth's source first."""
        path = [_SOURCE_ROOT]
        path.extend(entry for entry in sys.path if entry and entry != _SOURCE_ROOT and Path(entry).exists())
        return path

    def spawn(self, instance: PythonInstance, spec: dict[str, Any], channel_fd: int, log_fd: int,
              joins: list[int] | None = None) -> None:
        """Ask the zygote to fork ``instance``; the fds are passed over (``joins``: a sandboxed instance's cgroup
        files, ``cgroups.open_joins``), the caller closes its copies."""
        self._request("spawn", instance, spec, [channel_fd, log_fd, *(joins or ())])

    def execute(self, instance: Spawned, spec: dict[str, Any], log_fd: int, joins: list[int] | None = None) -> None:
        """Ask the zygote to fork and exec ``spec["argv"]`` (env, cwd, limits) for ``instance``; its fd 1 and 2
        become ``log_fd``; a sandboxed process first joins its cgroups through ``joins``. The caller closes its
        copies."""
        self._request("exec", instance, spec, [log_fd, *(joins or ())])

    def _request(self, op: str, instance: Spawned, spec: dict[str, Any], fds: list[int]) -> None:
        """Send a spawn or exec request for ``instance`` to the spare, if there is one, else to the zygote."""
        if self._socket is None:
            raise ServiceError("the Python zygote is not running")
        message = orjson.dumps({"op": op, "id": instance.id}) + b"\n" + orjson.dumps(spec)
        if self._to_spare(instance, message, fds):
            return
        self._instances[instance.id] = instance
        self._send(instance.id, message, fds)

    def _to_spare(self, instance: Spawned, message: bytes, fds: list[int]) -> bool:
        """Hand a spawn or exec request to the spare, if there is one; False: the zygote must fork."""
        spare, self._spare = self._spare, None
        if spare is None:
            return False
        try:
            socket.send_fds(spare.socket, [message], fds)
        except OSError:  # it ended (its exit report is on the way), or the request does not fit its buffer
            return False
        finally:
            spare.socket.close()
            self._ask_spare()  # forked while this one starts: measured, better than waiting for its Init to end
        self._spare_failures = 0
        self._instances[spare.id] = instance  # it reports its exit under the spare's id
        instance.on_spawned(spare.pid)
        return True

    def _ask_spare(self) -> None:
        """Ask the zygote for a spare, unless one is here or on its way, or too many ended unclaimed."""
        if (self.sandboxed or self._socket is None or self._spare is not None or self._spare_asked is not None
                or self._spare_failures >= SPARE_FAILURES):
            return
        self._spare_asked = next(self._spare_ids)
        self._send(self._spare_asked, orjson.dumps({"op": "spare", "id": self._spare_asked}), [])

    def _spare_arrived(self, event: dict[str, Any], fds: list[int]) -> None:
        channel = socket.socket(fileno=fds.pop(0)) if fds else None
        if channel is None or event.get("id") != self._spare_asked or self._socket is None:
            if channel is not None:
                channel.close()  # not the one asked for: closed, it ends
            return
        self._spare_asked = None
        channel.setblocking(False)
        self._spare = _Spare(event["id"], event["pid"], channel)

    def _spare_ended(self, spare_id: int) -> None:
        """A spare not yet claimed ended (or could not be forked): replace it, up to ``SPARE_FAILURES`` in a row."""
        if self._spare is not None and self._spare.id == spare_id:
            self._spare.socket.close()
            self._spare = None
        elif self._spare_asked == spare_id:
            self._spare_asked = None
        else:
            return
        self._spare_failures += 1
        self._ask_spare()

    def _send(self, instance_id: int, message: bytes, fds: list[int]) -> None:
        """Send a request now, or queue it (with copies of its fds, as the caller closes its own) while the
        socket's buffer is full: a burst of cold starts asks faster than the zygote forks."""
        assert self._socket is not None
        if not self._backlog:
            try:
                socket.send_fds(self._socket, [message], fds)
                return
            except BlockingIOError:
                asyncio.get_running_loop().add_writer(self._socket.fileno(), self._flush)
        self._backlog.append((instance_id, message, [os.dup(fd) for fd in fds]))

    def _flush(self) -> None:
        """Send the queued requests in order until the buffer is full again or none is left."""
        assert self._socket is not None
        while self._backlog:
            instance_id, message, fds = self._backlog[0]
            try:
                socket.send_fds(self._socket, [message], fds)
            except BlockingIOError:
                return
            except OSError as exc:  # the zygote is gone: _on_readable reports the rest; this one fails here
                instance = self._instances.pop(instance_id, None)
                if instance is not None:
                    instance.on_exit(None, f"could not reach the Python zygote: {exc}")
            self._backlog.popleft()
            for fd in fds:
                os.close(fd)
        asyncio.get_running_loop().remove_writer(self._socket.fileno())

    def _on_readable(self) -> None:
        assert self._socket is not None
        while True:
            fds: list[int] = []
            try:
                message, sender, fds = self.receive(self._socket)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:
                for fd in fds:
                    os.close(fd)
                self._lost()
                return
            event = orjson.loads(message)
            op = event.get("op")
            if op == "spare":
                self._spare_arrived(event, fds)
            for fd in fds:  # any other message carries none
                os.close(fd)
            if op == "ready":
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
                self._ask_spare()
            elif op == "spawned":
                instance = self._instances.get(event["id"])
                if instance is not None:
                    instance.on_spawned(sender or event["pid"])
            elif op == "exit":
                instance = self._instances.pop(event["id"], None)
                if instance is not None:
                    instance.on_exit(event["status"], event.get("error"))
                elif event["id"] < 0:
                    self._spare_ended(event["id"])

    def _lost(self) -> None:
        """The zygote died: its instances can no longer be reaped by it; report them as exited."""
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(_StartFailed(f"it exited while starting{self._exit_detail()}"))
        self.close()
        for instance in list(self._instances.values()):
            instance.on_exit(None, "the Python zygote exited")
        self._instances.clear()

    def _exit_detail(self) -> str:
        """How the zygote's process ended, if it has (for a start failure)."""
        if self.process is None:
            return ""
        try:
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return ""
        return f" (exit status {code})" if code >= 0 else f" (signal {-code})"

    def close(self) -> None:
        if self._spare is not None:  # its socket closed, the spare ends
            self._spare.socket.close()
            self._spare = None
        self._spare_asked = None
        while self._backlog:  # never sent: their instances are reported exited by _lost, or die with the platform
            for fd in self._backlog.popleft()[2]:
                os.close(fd)
        if self._socket is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._socket.fileno())
                asyncio.get_running_loop().remove_writer(self._socket.fileno())
            except RuntimeError:
                pass
            self._socket.close()
            self._socket = None
        if self.process is not None:
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


class PythonRuntime:
    """Creates Python instances by forking them from a zygote."""

    name = "python"

    def __init__(self, limiter: InstanceLimits, base_env: Mapping[str, str], *, python: str = sys.executable,
                 pycache_root: Path | None = None) -> None:
        self.limiter = limiter
        self.base_env = dict(base_env)
        # The secrets of an instance's function, added to its environment as it starts (every runtime's: the
        # provided and http runtimes start their processes through this one).
        self.secret_env: SecretSource = no_secrets
        self.zygote = Zygote(python, self.base_env, grant=limiter.identity.switches)
        self.pycache_root = pycache_root
        self.code_generation = 0  # bumped on every code reload: each generation compiles into its own pycache
        self.deadlines = DeadlineSweep()  # the timeouts of every instance's invocation in flight
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self.sandboxes: Sandboxes | None = None  # the zygotes of isolation = "sandbox" functions, made on first use

    async def ensure_zygote(self) -> Zygote:
        if not self.zygote.alive:
            async with self._lock:
                if not self.zygote.alive:
                    await self.zygote.start()
        return self.zygote

    async def zygote_for(self, spec: FunctionSpec) -> Zygote:
        """The zygote that starts ``spec``'s instances: the platform's, or its own sandbox's (``sandbox.py``)."""
        if spec.isolation != "sandbox":
            return await self.ensure_zygote()
        if self.sandboxes is None:
            from hearth.runtimes.python.sandbox import Sandboxes  # here: sandbox.py builds on this module's Zygote

            self.sandboxes = Sandboxes(self.zygote.python, self.base_env, self.zygote.import_path())
        return await self.sandboxes.zygote(spec)

    def retire(self, name: str, version: str | None = None) -> None:
        """A function version's pool closed (every version's: ``None``): its sandbox, if any, goes too."""
        if self.sandboxes is not None:
            self.sandboxes.retire(name, version)

    def new_instance_id(self) -> int:
        """A number no other instance of this platform has (it names the instance's cgroup too)."""
        return next(self._ids)

    def create(self, spec: FunctionSpec, generation: int, *, provisioned: bool = False) -> PythonInstance:
        instance_id = next(self._ids)
        child, joins = self.child_spec(spec, instance_id, generation, provisioned=provisioned)
        return PythonInstance(self, spec, instance_id, generation, child, joins)

    def child_spec(self, spec: FunctionSpec, instance_id: int, generation: int, *,
                   provisioned: bool = False) -> tuple[dict[str, Any], list[str]]:
        """Everything the forked child needs to become an instance of ``spec``, and the cgroups the platform opens
        for it to join (a sandboxed child's, which cannot reach them; ``cgroups.open_joins``)."""
        stream = log_stream_name(spec)
        env = function_environment(spec, self.base_env, stream, provisioned=provisioned)
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}"
        env.update(spec.env)
        child: dict[str, Any] = {
            "function": spec.name,
            "version": spec.version,
            "handler": spec.handler,
            "code_dir": str(spec.code_dir),
            "memory_mb": spec.memory_mb,
            "arn": spec.arn,
            "log_group": spec.log_group,
            "log_stream": stream,
            "env": env,
        }
        if self.pycache_root is not None:
            child["pycache"] = str(self.pycache_root / f"g{self.code_generation}")
        sandboxed = spec.isolation == "sandbox"
        child.update(self.limiter.prepare(instance_id, spec.memory_mb, None if sandboxed else spec.name,
                                          str(spec.code_dir)))
        if sandboxed:
            from hearth.runtimes.python.sandbox import confine

            return child, confine(child)
        if "uid" in child:  # another user's: __pycache__ beside the sources only (pool/limits/identity.py)
            child.pop("pycache", None)
        return child, []

    async def close(self) -> None:
        if self.sandboxes is not None:
            self.sandboxes.close()
        self.zygote.close()
        # Instances the zygote killed as it went may still be exiting, and their cgroups cannot be removed until
        # they have: retry for a moment (whatever is left is swept when the next platform starts).
        for _ in range(CLOSE_RETRIES):
            if self.limiter.close():
                return
            await asyncio.sleep(CLOSE_RETRY_S)

