"""The instance side of the Python runtime: set up the sandbox, import the handler once, serve one call at a time.

``start`` runs in a child freshly forked from the zygote. It never returns: the instance ends with ``os._exit``
when the platform closes the channel, or is killed by the platform (timeout, memory, idle).
Imports stay minimal: every module imported here is pre-imported by the zygote and shared copy-on-write.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import resource
import socket
import sys
import termios
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

import orjson

from hearth import errors
from hearth.runtimes.python import protocol

CO_COROUTINE = 0x80
RECV_SIZE = 64 * 1024
# Frames are read into this buffer, allocated and zeroed once by the zygote: an instance writes only the pages a
# frame fills. A fresh ``recv`` buffer per call took a new 64 KiB malloc chunk each time, and malloc walked and
# dirtied more of the heap as calls went on (~80 KiB per instance after a few hundred calls).
_RECV_BUFFER = bytearray(RECV_SIZE)
DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
# Without numpy: with OPT_SERIALIZE_NUMPY, orjson imports numpy (if installed) to check the first value it cannot
# serialize, so an unmarshalable result cost ~23 MB and ~150 ms of CPU in a function that never used numpy. A
# result can hold numpy values only if numpy was imported already.
PLAIN_DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS
_MODULES = sys.modules
_RUNTIME_FOLDER = os.path.dirname(__file__) + os.sep  # this runtime's own frames are left out of stack traces
_ZYGOTE_ENV_NAMES = tuple(os.environ)  # read when the zygote imports this module; it never changes its environment


class LambdaContext:
    """The ``context`` argument, with the attributes and method of Lambda's Python context."""

    __slots__ = (
        "_deadline_ms",
        "aws_request_id",
        "client_context",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "trace_id",
    )

    def __init__(self, spec: dict[str, Any], request_id: str, deadline_ms: int, trace_id: str | None) -> None:
        self.aws_request_id = request_id
        self.function_name: str = spec["function"]
        self.function_version: str = spec["version"]
        self.invoked_function_arn: str = spec["arn"]
        self.memory_limit_in_mb: str = str(spec["memory_mb"])
        self.log_group_name: str = spec["log_group"]
        self.log_stream_name: str = spec["log_stream"]
        self.identity = None
        self.client_context = None
        self.trace_id = trace_id
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the platform stops this invocation."""
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(aws_request_id={self.aws_request_id!r}, function_name={self.function_name!r})"


def start(spec: dict[str, Any], channel_fd: int, log_fd: int, joins: list[int] | None = None) -> NoReturn:
    """Become the instance described by ``spec``; ``channel_fd`` talks to the platform, ``log_fd`` is its log,
    ``joins`` (a sandboxed instance's) lead into its cgroups (``join_through``)."""
    started = time.perf_counter()
    os.setsid()  # own process group: the platform kills the whole group (SCHED_BATCH comes from the zygote)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    if joins:
        join_through(joins)
    channel = socket.socket(fileno=channel_fd)
    try:
        enter_limits(spec)
        code_dir = _enter_environment(spec)
        enter_identity(spec)
        if "uid" in spec and not os.access(code_dir, os.R_OK | os.X_OK):
            raise errors.ImportModuleError(
                f"Unable to import module: the code folder {spec['code_dir']} is not readable by uid {spec['uid']}, "
                "the user this function runs as; let others read it (chmod -R o+rX) or run the platform with "
                "--instance-user self")
        handler = _load_handler(spec["handler"], code_dir)
    except errors.FunctionFailure as exc:
        _send_init_error(channel, exc.to_payload(), started)
    except MemoryError:
        _send_init_error(channel, {"errorType": errors.OutOfMemory.error_type,
                                   "errorMessage": "Runtime exceeded its memory limit during init",
                                   "stackTrace": []}, started)
    except Exception as exc:  # module-level code raised: Lambda reports the exception as the init error
        _send_init_error(channel, _error_payload(exc), started)
    init_ms = (time.perf_counter() - started) * 1000.0
    ready: dict[str, Any] = {"pid": os.getpid(), "init_ms": init_ms}
    output = _output_of(handler)
    if output is not None:
        output.channel = channel
        ready["streams"] = True
    channel.sendall(protocol.frame(protocol.READY, orjson.dumps(ready)))
    _serve(spec, handler, channel, output)


def _output_of(handler: Callable[..., Any]) -> Any:
    """The ``entry.output.Output`` of an entry point's adapter, whose responses can stream; None for a Lambda
    handler (which never imports that module)."""
    module = sys.modules.get("hearth.runtimes.python.entry.output")
    output = getattr(handler, "output", None)
    return output if module is not None and isinstance(output, module.Output) else None


def enter_batch_scheduling() -> None:
    """Run as ``SCHED_BATCH``: same CPU share as before, but a woken instance no longer preempts the running task.

    Every request wakes an instance; under load that preempted the gateway (the one process all requests pass
    through) and cost a context switch each time. The zygote calls this once and its children inherit the
    policy through ``fork()`` (done in each child, it cost ~30 KiB of private memory per instance). Best
    effort: a host that refuses it leaves the default.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass


def enter_limits(spec: dict[str, Any], *, address_space: bool = True) -> None:
    """Join the instance's cgroups (memory, cpu, pids), or (the memory fallback) cap memory with an rlimit; cap
    open files (and, without a pids cgroup, processes) with rlimits.

    The rlimit caps the address space above what the forked process already maps, or, for an executable about
    to be started (``address_space=False``), its data segment: runtimes such as Go and V8 reserve gigabytes of
    address space they never touch, which RLIMIT_AS would refuse.
    """
    for cgroup in spec.get("cgroups") or ():
        join_cgroup(cgroup)
    limit = spec.get("rlimit_as_mb")
    if limit and address_space:
        statm = os.open("/proc/self/statm", os.O_RDONLY)
        try:
            baseline = int(os.read(statm, 256).split()[0]) * resource.getpagesize()
        finally:
            os.close(statm)
        ceiling = baseline + int(limit) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    elif limit:
        ceiling = int(limit) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (ceiling, ceiling))
    for field, which in (("rlimit_nofile", resource.RLIMIT_NOFILE), ("rlimit_nproc", resource.RLIMIT_NPROC)):
        count = spec.get(field)
        if count:
            resource.setrlimit(which, (int(count), int(count)))


def join_cgroup(cgroup: str) -> None:
    """Move this process, one thread just forked, into the cgroup folder ``cgroup``.

    In a v1 hierarchy it writes ``0`` (the calling thread) to ``tasks``. Moving a whole process through
    ``cgroup.procs`` takes the kernel's global threadgroup lock, and the first writer after a quiet spell waits
    there for an RCU grace period: 5–20 ms on the 2-vCPU test VM after 50 ms without a cold start, against
    0.2 ms back to back, so a cold start after a pause took ~25 ms instead of ~5. The calling thread moving itself
    skips that lock (Linux 6.x; older kernels move it the slow way). A forked child has one thread, so the thread is
    the process. A v2 hierarchy has no ``tasks``: there the pid goes to ``cgroup.procs``. Raw descriptors: io's file
    objects cost private pages."""
    try:
        target, payload = os.open(cgroup + "/tasks", os.O_WRONLY), b"0"
    except FileNotFoundError:
        target, payload = os.open(cgroup + "/cgroup.procs", os.O_WRONLY), b"%d" % os.getpid()
    try:
        os.write(target, payload)
    finally:
        os.close(target)


def join_through(fds: list[int]) -> None:
    """Join the cgroups whose ``tasks`` or ``cgroup.procs`` the platform opened for this process (a sandboxed one,
    which cannot reach them: ``cgroups.open_joins``), and close them; a process that cannot join never runs: it
    exits with status 1, saying why on its log."""
    try:
        for fd in fds:
            os.write(fd, b"0")
    except OSError as exc:
        os.write(2, f"hearth: cannot join the instance's cgroups: {exc.strerror or exc}\n".encode())
        os._exit(1)
    finally:
        for fd in fds:
            os.close(fd)


def _enter_environment(spec: dict[str, Any]) -> str:
    """``chdir`` to the code, replace the zygote's environment with the function's, put the code on ``sys.path``;
    the code folder's path as the instance imports from it.

    Plain loops over plain dicts and tuples: ``os.environ.update`` (the ABC ``update`` and its ``isinstance``
    check) and iterating ``os.environ`` (which decodes every name) ran shared code that no other step runs and
    cost ~140 KiB of private memory per instance. A folder the instance's identity cannot reach by name
    (``code_via_fd``: see ``pool/limits/identity.py``) is opened now, while the child is still root, and imported
    through ``/proc/self/fd/N``.
    """
    code_dir: str = spec["code_dir"]
    os.chdir(code_dir)
    if spec.get("code_via_fd"):
        code_dir = f"/proc/self/fd/{os.open(code_dir, os.O_PATH | os.O_DIRECTORY)}"
    environ = os.environ
    env: dict[str, str] = spec["env"]
    for name in _ZYGOTE_ENV_NAMES:  # the zygote starts with the instance base environment: usually none
        if name not in env:
            del environ[name]
    for name, value in env.items():
        environ[name] = value
    if code_dir is not spec["code_dir"]:
        environ["LAMBDA_TASK_ROOT"] = code_dir
    sys.path.insert(0, code_dir)
    # The folder's finder, from the hook that makes it (FileFinder's, the last): left to the import system, the
    # zipimporter hook is tried first and fails on a folder by raising (~30 KiB of private memory per instance)
    sys.path_importer_cache[code_dir] = sys.path_hooks[-1](code_dir)
    if spec.get("pycache"):
        sys.pycache_prefix = spec["pycache"]
    return code_dir


def enter_identity(spec: dict[str, Any], environ: Any = None) -> None:
    """Drop to the instance's ``uid``/``gid`` (no supplementary groups) with ``HOME`` and ``TMPDIR`` its own
    folder, if the spec names one (``pool/limits/identity.py``); after the cgroups are joined and the code folder
    entered, which need root. ``environ``: the environment to set them in (an executable's spec's), else ours."""
    uid = spec.get("uid")
    if uid is None:
        return
    home = spec["home"]
    if environ is None:
        environ = os.environ
    environ["HOME"] = home
    environ["TMPDIR"] = home
    gid = spec["gid"]
    os.setgroups(())
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def reachable_by_others(path: str) -> bool:
    """Whether a user who owns nothing on the way (an instance's uid) can open ``path`` by its name: every folder
    above it lets others through, and it lets others read and enter it."""
    try:
        if os.stat(path).st_mode & 0o005 != 0o005:
            return False
        parent = os.path.dirname(os.path.abspath(path))
        while True:
            if not os.stat(parent).st_mode & 0o001:
                return False
            if parent == "/":
                return True
            parent = os.path.dirname(parent)
    except OSError:
        return False


def grant_import_path() -> None:
    """Let instances that drop to another uid import what the zygote can (run by the zygote, before it forks): each
    import folder such a uid cannot reach by name (the interpreter's library under a 0700 home, say) is opened here
    and named ``/proc/self/fd/N`` in ``sys.path`` and in the ``__path__`` of the packages already imported; every
    child inherits the descriptors, and the link leads into the folder without checking the folders above it."""
    granted: dict[str, str] = {}
    for entry in sys.path:
        if entry and entry not in granted and os.path.isdir(entry) and not reachable_by_others(entry):
            fd = os.open(entry, os.O_PATH | os.O_DIRECTORY)
            granted[entry] = f"/proc/self/fd/{fd}"
    if not granted:
        return
    sys.path[:] = [granted.get(entry, entry) for entry in sys.path]
    prefixes = sorted(granted, key=len, reverse=True)
    for module in list(sys.modules.values()):
        path = getattr(module, "__path__", None)
        if isinstance(path, list):
            path[:] = [_granted(entry, prefixes, granted) for entry in path]
    sys.path_importer_cache.clear()


def _granted(entry: str, prefixes: list[str], granted: dict[str, str]) -> str:
    for prefix in prefixes:
        if entry == prefix or entry.startswith(prefix + os.sep):
            return granted[prefix] + entry[len(prefix):]
    return entry


def _load_handler(handler: str, code_dir: str = ".") -> Callable[..., Any]:
    """Import the handler, or raise the precise Lambda init error.

    ``module.attr`` is imported as on Lambda; a path ending in ``.py`` names a file of the code folder, whose entry
    point is found as Vercel finds it. Anything but a plain ``def handler(event, context)`` goes through ``entry``
    (imported only then), which adapts a BaseHTTPRequestHandler class, a WSGI or an ASGI app.
    """
    is_file = handler.endswith(".py")
    module_name, _, attribute = (handler, "", "") if is_file else handler.rpartition(".")
    try:
        if is_file:
            from hearth.runtimes.python import entry

            module = entry.import_file(handler, code_dir)
        else:
            module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise errors.UserCodeSyntaxError(f"Syntax error in module '{module_name}': {exc}",
                                         _stack(exc)) from None
    except ImportError as exc:
        raise errors.ImportModuleError(f"Unable to import module '{module_name}': {exc}", _stack(exc)) from None
    if is_file:
        return entry.from_file(module, handler)
    function = getattr(module, attribute, None)
    if function is None:
        raise errors.HandlerNotFound(f"Handler '{attribute}' missing on module '{module_name}'")
    if not callable(function):
        raise errors.HandlerNotFound(f"Handler '{attribute}' on module '{module_name}' is not callable")
    if _is_plain_handler(function):
        return function  # type: ignore[no-any-return]
    from hearth.runtimes.python import entry

    return entry.adapt(function)


def _is_plain_handler(function: Any) -> bool:
    """A plain ``def handler(event, context)`` (the common case), told without importing the adapters: a Python
    function of two positional parameters, the second not WSGI's ``start_response``."""
    code = getattr(function, "__code__", None)
    return (code is not None and code.co_argcount == 2 and code.co_varnames[1] != "start_response"
            and not hasattr(function, "__self__"))


def _serve(spec: dict[str, Any], handler: Callable[..., Any], channel: socket.socket, output: Any) -> NoReturn:
    """Answer INVOKE frames until the platform closes the channel. ``output`` (an adapter's ``entry.output.Output``,
    or None) is armed for an INVOKE_STREAM, whose response may stream over the channel before the result."""
    runner = _Runner(spec, handler)
    recv, recv_into = channel.recv, channel.recv_into
    buffer = _RECV_BUFFER
    view = memoryview(buffer)
    header_size = protocol.HEADER.size
    while True:
        size = recv_into(buffer)  # usually the whole frame in one call
        if not size:
            os._exit(0)
        data: bytes | memoryview = view[:size]
        if size < header_size:
            rest = _recv_exact(recv, header_size - size)
            if rest is None:
                os._exit(0)
            data = bytes(data) + rest
        length, kind = protocol.HEADER.unpack_from(data)
        missing = length + 4 - len(data)
        if missing > 0:
            rest = _recv_exact(recv, missing)
            if rest is None:
                os._exit(0)
            data = bytes(data) + rest
        if kind != protocol.INVOKE:
            if kind == protocol.CANCEL:  # it crossed the end of its stream; the platform waits for the answer
                channel.sendall(protocol.frame(protocol.CANCELLED, b""))
                continue
            if kind != protocol.INVOKE_STREAM or output is None:
                os._exit(0)
            output.armed = True
        reply, fatal = runner.invoke(data[header_size:])
        channel.sendall(reply)
        if fatal:
            os._exit(1)


_ENVIRON: dict[bytes, bytes] = os.environ._data  # type: ignore[attr-defined]  # see _Runner.invoke
_TRACE_KEY = b"_X_AMZN_TRACE_ID"


class _Runner:
    """Runs one invocation from its INVOKE body to the reply frame; ``fatal`` means the instance must end."""

    def __init__(self, spec: dict[str, Any], handler: Callable[..., Any]) -> None:
        self.spec = spec
        self.handler = handler
        self.is_coroutine = bool(getattr(getattr(handler, "__code__", None), "co_flags", 0) & CO_COROUTINE)
        self.loop: Any = None

    def invoke(self, body: bytes | memoryview) -> tuple[bytes, bool]:
        message = orjson.loads(body)
        trace_id = message.get("trace_id")
        # _X_AMZN_TRACE_ID, as Lambda's Python runtime sets it for the X-Ray SDK and anything that reads
        # os.environ. Written into os.environ's mapping without putenv(3): glibc's setenv grew an idle instance by
        # ~0.4 MiB (measured, 64 instances); so a subprocess the handler starts does not inherit it.
        if trace_id:
            _ENVIRON[_TRACE_KEY] = trace_id.encode()
        else:
            _ENVIRON.pop(_TRACE_KEY, None)
        context = LambdaContext(self.spec, message["id"], message["deadline_ms"], trace_id)
        started = time.perf_counter()
        fatal = False
        try:
            result = self.handler(message["event"], context)
            if self.is_coroutine or hasattr(type(result), "__await__"):
                if self.loop is None:
                    import asyncio  # only async handlers pay for asyncio

                    self.loop = asyncio.new_event_loop()
                result = self.loop.run_until_complete(result)
            try:
                payload = orjson.dumps(result, option=DUMPS_OPTIONS if "numpy" in _MODULES else PLAIN_DUMPS_OPTIONS)
                kind = protocol.RESULT
            except TypeError as exc:
                error = {"errorType": errors.MarshalError.error_type,
                         "errorMessage": f"Unable to marshal response: {exc}", "stackTrace": []}
                _log_error(error)
                payload, kind = orjson.dumps(error), protocol.ERROR
        except MemoryError:
            error = {"errorType": errors.OutOfMemory.error_type,
                     "errorMessage": "Runtime exceeded its memory limit", "stackTrace": []}
            payload, kind, fatal = orjson.dumps(error), protocol.ERROR, True
        except Exception as exc:
            error = _error_payload(exc)
            _log_error(error)
            payload, kind = orjson.dumps(error), protocol.ERROR
        duration_ms = (time.perf_counter() - started) * 1000.0
        sys.stdout.flush()
        sys.stderr.flush()
        max_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        flags = protocol.LOGS_PENDING if _unread_log_bytes() else 0
        return protocol.frame(kind, protocol.RESULT_HEAD.pack(duration_ms, max_rss_kb, flags) + payload), fatal


_FIONREAD_BUFFER = bytearray(4)


def _unread_log_bytes() -> int:
    """Bytes written to this instance's log pipe (fd 1) that the platform has not read yet."""
    try:
        fcntl.ioctl(1, termios.FIONREAD, _FIONREAD_BUFFER)
    except OSError:
        return 1  # unknown: let the platform drain
    return int.from_bytes(_FIONREAD_BUFFER, sys.byteorder)


WARM_UP_MODULE = "hearth_zygote_warm_up"
WARM_UP_CALLS = 32


def warm_up() -> None:
    """Run the instance's code paths in the zygote before any fork.

    Python 3.11 rewrites bytecode in place the first times it runs (quickening) and fills caches lazily; done here,
    children inherit all of it shared instead of each writing private copies of those pages.
    """
    write_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    folder = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"hearth-warm-up-{os.getpid()}")  # not tempfile:
    os.makedirs(folder, exist_ok=True)  # it imports random, whose at-fork reseed would run in every instance
    source = os.path.join(folder, WARM_UP_MODULE + ".py")
    with open(source, "w") as module:
        module.write("def handler(event, context):\n    return {'ok': event['n']}\n")
    sys.path.insert(0, folder)
    try:
        runner = _Runner({"function": "warm", "version": "$LATEST", "arn": "", "memory_mb": 128,
                          "log_group": "", "log_stream": ""}, _load_handler(WARM_UP_MODULE + ".handler"))
        for number in range(WARM_UP_CALLS):
            runner.invoke(orjson.dumps({"id": "warm", "deadline_ms": 0, "trace_id": None, "event": {"n": number}}))
    finally:
        sys.path.remove(folder)
        sys.modules.pop(WARM_UP_MODULE, None)
        sys.path_importer_cache.pop(folder, None)
        sys.dont_write_bytecode = write_bytecode
        os.remove(source)
        os.rmdir(folder)


def _recv_exact(recv: Callable[[int], bytes], size: int) -> bytes | None:
    data = recv(size)
    if len(data) == size:
        return data
    chunks = [data]
    received = len(data)
    while received < size:
        if not data:
            return None
        data = recv(size - received)
        chunks.append(data)
        received += len(data)
    return b"".join(chunks)


def _stack(exc: BaseException) -> list[str]:
    """The traceback of user code only: Hearth's and importlib's own frames are left out."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if not frame.filename.startswith(_RUNTIME_FOLDER) and not frame.filename.startswith("<frozen ")]
    return traceback.format_list(frames)


def _error_payload(exc: BaseException) -> dict[str, Any]:
    error_type = exc.error_type if isinstance(exc, errors.HearthError) else type(exc).__name__  # entry's errors
    return {"errorType": error_type, "errorMessage": str(exc), "stackTrace": _stack(exc)}


def _log_error(error: dict[str, Any]) -> None:
    """Write the error to the instance log the way Lambda's Python runtime does."""
    lines = "".join(error["stackTrace"])
    sys.stderr.write(f"[ERROR] {error['errorType']}: {error['errorMessage']}\n"
                     + (f"Traceback (most recent call last):\n{lines}" if lines else ""))


def _send_init_error(channel: socket.socket, error: dict[str, Any], started: float) -> NoReturn:
    error["init_ms"] = (time.perf_counter() - started) * 1000.0
    _log_error(error)
    sys.stderr.flush()
    channel.sendall(protocol.frame(protocol.INIT_ERROR, orjson.dumps(error)))
    os._exit(1)
