"""The zygote: a small single-threaded process that forks Python instances.

It has already imported the worker runtime, so a cold start costs a ``fork()`` plus the handler's own import,
not a new interpreter. It also starts the executables of the other runtimes (``exec``): forking from this small
process is cheaper than from the platform, and every instance gets its limits, its own process group and its exit
report the same way. It talks to the platform over a ``SOCK_SEQPACKET`` socket (one message per datagram):

    platform → zygote   {"op": "spawn", "id"} \n spec   with SCM_RIGHTS [channel fd, log fd, joins...]
                        {"op": "exec", "id"} \n spec    with SCM_RIGHTS [log fd, joins...]; spec: argv, env, cwd, limits
                        {"op": "spare", "id"}             fork a spare (below)
    zygote → platform   {"op": "ready", "pid"}            once, after pre-importing
                        {"op": "spawned", "id", "pid"}    after each fork (in a sandbox, sent by the child)
                        {"op": "spare", "id", "pid"}      with SCM_RIGHTS [the spare's socket]
                        {"op": "exit", "id", "pid", "status"}   when a child ends (raw wait status)

A **spare** is a child forked ahead of need: it has done what every child does after ``fork()`` and waits on a
socket of its own for one spawn or exec request, in the same form, sent by the platform straight to it. A cold
start that finds one skips the zygote's wake-up, the ``fork()`` and the child's first page copies (~1.5 ms of its
~5.5 on the 2-vCPU test VM); the platform asks for the next spare once the cold start is on its way. The
platform closing a spare's socket ends it. Its exit is reported under the spare's id.

``joins`` (a sandboxed instance's: ``cgroups.open_joins``) are the cgroup files it joins through before anything
else (``worker.join_through``). A request whose descriptors did not all arrive (more than ``MAX_FDS``) is refused:
a child that missed one would run outside that limit.

Run as ``python -m hearth.runtimes.python.zygote FD [grant]``. It exits when the platform closes the socket. With
``grant`` (instances drop to other uids: ``pool/limits/identity.py``) it first opens the import folders those uids
cannot reach by name (``worker.grant_import_path``).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module under signal (see _spawn)
import gc
import os
import select
import signal
import socket
import sys
from typing import Any, NoReturn

import orjson

from hearth.runtimes.python import worker

MAX_MESSAGE = 1024 * 1024
FD_SIZE = 4  # a C int, as SCM_RIGHTS carries it
MAX_FDS = 2 + 6  # the channel and the log, then a cgroup file per hierarchy to join (memory, cpu, pids: 3 today)
FDS_SPACE = socket.CMSG_SPACE(MAX_FDS * FD_SIZE)


def main(control_fd: int, sandboxed: bool = False, grant: bool = False) -> None:
    """Serve spawn requests on ``control_fd``; ``sandboxed``: in a pid namespace, where the pids this process sees
    mean nothing to the platform, so each child reports its own spawn (its credentials carry its host pid);
    ``grant``: instances drop to other uids, which get the import folders they cannot reach by descriptor."""
    control = socket.socket(fileno=control_fd)
    if grant:
        worker.grant_import_path()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the platform decides when the zygote ends
    children: dict[int, int] = {}  # pid -> instance id
    buffer = bytearray(MAX_MESSAGE)  # one buffer for every message: a fresh 1 MiB each time dirtied malloc's heap
    view = memoryview(buffer)
    buffers = [buffer]
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # instances' fd 1 and 2 are pipes
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    worker.enter_batch_scheduling()  # inherited by every instance
    worker.warm_up()
    gc.collect()
    gc.freeze()  # keep the collector from touching (and so copying) the pre-imported heap in children
    # poll, not select: a zygote started late (a sandbox's, or one restarted) inherits its control socket at the
    # platform's fd number, which may be over select()'s FD_SETSIZE (1,024) once many instances are running
    poller = select.poll()
    poller.register(control.fileno(), select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    _send(control, {"op": "ready", "pid": os.getpid()})
    while True:
        try:
            readable = [fd for fd, _ in poller.poll()]
        except InterruptedError:
            continue
        if wake_r in readable:
            while True:
                try:
                    if not os.read(wake_r, 4096):
                        break
                except BlockingIOError:
                    break
            _reap(control, children)
        if control.fileno() in readable:
            try:
                size, ancillary, flags, _ = control.recvmsg_into(buffers, FDS_SPACE)
            except ConnectionError:
                size, ancillary, flags = 0, [], 0
            fds = _received_fds(ancillary)
            if not size:
                _shutdown(children)
                return
            split = buffer.find(b"\n", 0, size)  # the request, then its spec (a spare's request has none)
            try:
                request = orjson.loads(view[:split] if split >= 0 else view[:size])
            except orjson.JSONDecodeError:
                request = {}
            op = request.get("op")
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) and "id" in request:
                for fd in fds:
                    os.close(fd)
                what = (f"larger than {MAX_MESSAGE} bytes" if flags & socket.MSG_TRUNC
                        else f"carries more than {MAX_FDS} descriptors")
                _send(control, {"op": "exit", "id": request["id"], "pid": 0, "status": 0,
                                "error": f"the spawn request is {what}"})
            elif split >= 0 and _runnable(op, fds):
                _spawn(control, request, view[split + 1:size], fds, children, (wake_r, wake_w), sandboxed)
            elif op == "spare" and not sandboxed and "id" in request:
                for fd in fds:
                    os.close(fd)
                _fork_spare(control, request["id"], buffers, children, (wake_r, wake_w))
            else:
                for fd in fds:
                    os.close(fd)


def _spawn(control: socket.socket, request: dict[str, Any], spec: memoryview, fds: list[int],
           children: dict[int, int], wake: tuple[int, int], sandboxed: bool = False) -> None:
    """Fork; the child parses ``spec`` (JSON) itself: parsed here, its objects were allocated and later freed by
    the zygote between forks, and each page that touched became private to an instance."""
    try:
        pid = os.fork()
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        _send(control, {"op": "exit", "id": request["id"], "pid": 0, "status": 0, "error": str(exc)})
        return
    if pid == 0:
        try:
            _leave_zygote(wake)
            if sandboxed:
                _send(control, {"op": "spawned", "id": request["id"], "pid": os.getpid()})
            control.close()
            _become(request, spec, fds)
        finally:
            os._exit(70)  # never past here: a child must not go on as the zygote
    for fd in fds:
        os.close(fd)
    children[pid] = request["id"]
    if not sandboxed:
        _send(control, {"op": "spawned", "id": request["id"], "pid": pid})


def _fork_spare(control: socket.socket, spare_id: int, buffers: list[bytearray], children: dict[int, int],
                wake: tuple[int, int]) -> None:
    """Fork a spare and hand the platform the other end of its socket."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = os.fork()
    except OSError as exc:
        ours.close()
        theirs.close()
        _send(control, {"op": "exit", "id": spare_id, "pid": 0, "status": 0, "error": str(exc)})
        return
    if pid == 0:
        try:
            _leave_zygote(wake)
            control.close()
            theirs.close()
            _wait_as_spare(ours, buffers)
        finally:
            os._exit(70)  # never past here: a child must not go on as the zygote
    ours.close()
    children[pid] = spare_id
    try:
        socket.send_fds(control, [orjson.dumps({"op": "spare", "id": spare_id, "pid": pid})], [theirs.fileno()])
    except OSError:
        pass  # the platform is gone; the spare ends when its socket closes below
    theirs.close()


def _wait_as_spare(channel: socket.socket, buffers: list[bytearray]) -> NoReturn:
    """A spare's life: wait for one spawn or exec request on ``channel``, then become what it asks for."""
    try:
        size, ancillary, flags, _ = channel.recvmsg_into(buffers, FDS_SPACE)
    except OSError:
        size, ancillary, flags = 0, [], 0
    fds = _received_fds(ancillary)
    channel.close()
    buffer = buffers[0]
    split = buffer.find(b"\n", 0, size)
    whole = not flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC)
    request = orjson.loads(memoryview(buffer)[:split]) if split > 0 and whole else {}
    op = request.get("op")
    if _runnable(op, fds):
        _become(request, memoryview(buffer)[split + 1:size], fds)
    if size:
        os.write(2, b"hearth: a spare instance got a request it cannot run (cut short, or without its descriptors)\n")
    os._exit(0 if not size else 70)


def _runnable(op: object, fds: list[int]) -> bool:
    """Whether a request is a spawn or exec with the descriptors it needs (channel and log; log)."""
    return (op == "spawn" and len(fds) >= 2) or (op == "exec" and len(fds) >= 1)


def _leave_zygote(wake: tuple[int, int]) -> None:
    """What every child does first after ``fork()``: drop the zygote's signal handling and its wake-up pipe."""
    signal.set_wakeup_fd(-1)
    # _signal's, not signal's: the wrapper turns the old handler into an enum member, and for the zygote's
    # SIGCHLD function that raised and caught a ValueError inside enum (~65 KiB private per instance)
    _signal.signal(signal.SIGCHLD, _signal.SIG_DFL)
    _signal.signal(signal.SIGINT, _signal.SIG_DFL)
    os.close(wake[0])
    os.close(wake[1])


def _become(request: dict[str, Any], spec: memoryview, fds: list[int]) -> NoReturn:
    """Become the instance (``spawn``) or the program (``exec``) ``request`` asks for; never returns."""
    try:
        if request["op"] == "exec":
            _exec(orjson.loads(spec), fds[0], fds[1:])
        worker.start(orjson.loads(spec), fds[0], fds[1], fds[2:])
    except SystemExit as exc:  # the handler called sys.exit(): the runtime exits with that status
        code = exc.code
        if code is not None and not isinstance(code, int):
            sys.stderr.write(f"{code}\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else (0 if code is None else 1))
    finally:
        os._exit(70)  # worker.start never returns; this only runs if it raised before taking over


def _received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The file descriptors an SCM_RIGHTS message carried (``socket.recv_fds`` without its ``array``)."""
    fds = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for start in range(0, len(data) - FD_SIZE + 1, FD_SIZE):
                fds.append(int.from_bytes(data[start:start + FD_SIZE], sys.byteorder, signed=True))
    return fds


def _exec(spec: dict[str, Any], log_fd: int, joins: list[int]) -> None:
    """Become ``spec["argv"]`` in its own process group, limits applied, output on the log pipe, as the instance's
    identity; never returns. A program in the code folder is started through ``/proc/self/cwd``, which an identity
    that cannot reach the folder by name can still follow (``pool/limits/identity.py``). ``joins`` (a sandboxed
    process's) lead into its cgroups (``worker.join_through``)."""
    os.setsid()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    if joins:
        worker.join_through(joins)
    argv = spec["argv"]
    program = argv[0]
    try:
        worker.enter_limits(spec, address_space=False)  # Go and V8 reserve far more address space than they use
        cwd = spec["cwd"]
        os.chdir(cwd)
        env = spec["env"]
        worker.enter_identity(spec, env)
        if spec.get("code_via_fd"):
            if program.startswith(cwd.rstrip("/") + "/"):  # by a name an interpreter can open again (a script's
                program = "/proc/self/cwd/" + program[len(cwd.rstrip("/")) + 1:]  # ./x it makes absolute)
            if env.get("LAMBDA_TASK_ROOT") == cwd:
                env["LAMBDA_TASK_ROOT"] = "/proc/self/cwd"
        os.execve(program, argv, env)
    except OSError as exc:
        hint = ""
        if isinstance(exc, PermissionError) and "uid" in spec:
            hint = (f" (the instance runs as uid {spec['uid']}, which may not reach it: install it where every "
                    "user can run it, or start the platform with --instance-user self)")
        os.write(2, f"hearth: cannot start {argv[0]}: {exc.strerror or exc}{hint}\n".encode())
        os._exit(127)


def _reap(control: socket.socket, children: dict[int, int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        instance_id = children.pop(pid, None)
        if instance_id is not None:
            _send(control, {"op": "exit", "id": instance_id, "pid": pid, "status": status})


def _shutdown(children: dict[int, int]) -> None:
    for pid in children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:  # a spare not yet claimed is still in the zygote's process group
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    try:
        control.send(orjson.dumps(message))
    except OSError:
        pass  # the platform is gone; the next recv sees it and the zygote exits


if __name__ == "__main__":
    main(int(sys.argv[1]), grant=sys.argv[2:] == ["grant"])
