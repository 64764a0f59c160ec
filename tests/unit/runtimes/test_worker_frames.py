"""The instance's frame loop: frames that fit its receive buffer, and frames that arrive in pieces or exceed it;
and how it waits for the next frame (woken once per invocation, not again when the platform reads its reply)."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from hearth.runtimes.python import protocol, worker

SPEC = {"function": "echo", "version": "$LATEST", "arn": "", "memory_mb": 128, "log_group": "", "log_stream": ""}


def _echo(event: object, context: object) -> object:
    return event


@pytest.fixture
def instance() -> Iterator[socket.socket]:
    """A forked child serving ``_echo`` on one end of a socketpair; the test holds the other end."""
    with _serving() as (ours, _):
        yield ours


@contextlib.contextmanager
def _serving() -> Iterator[tuple[socket.socket, int]]:
    """The fixture's child, and its pid."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        try:
            ours.close()
            worker._serve(SPEC, _echo, theirs, None)
        finally:
            os._exit(70)
    theirs.close()
    ours.settimeout(10)
    try:
        yield ours, pid
    finally:
        ours.close()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # the channel closed: the instance ended cleanly


def _invoke_frame(event: object) -> bytes:
    body = orjson.dumps({"id": "r1", "deadline_ms": 0, "trace_id": None, "event": event})
    return protocol.frame(protocol.INVOKE, body)


def _read_result(channel: socket.socket) -> object:
    head = b""
    while len(head) < protocol.HEADER.size:
        head += channel.recv(protocol.HEADER.size - len(head))
    length, kind = protocol.HEADER.unpack(head)
    body = b""
    while len(body) < length - 1:
        body += channel.recv(length - 1 - len(body))
    assert kind == protocol.RESULT
    return orjson.loads(body[protocol.RESULT_HEAD.size:])


def test_frames_within_and_beyond_the_receive_buffer(instance: socket.socket) -> None:
    small = {"n": 1}
    big = {"pad": "x" * (3 * worker.RECV_SIZE)}  # arrives in several reads
    for event in (small, big, small):
        instance.sendall(_invoke_frame(event))
        assert _read_result(instance) == event


def test_a_frame_split_inside_its_header(instance: socket.socket) -> None:
    frame = _invoke_frame({"n": 2})
    instance.sendall(frame[:3])
    instance.sendall(frame[3:])
    assert _read_result(instance) == {"n": 2}


def _proc(pid: int, name: str) -> str:
    return (Path("/proc") / str(pid) / name).read_text()


def _voluntary_switches(pid: int) -> int:
    for line in _proc(pid, "status").splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc/PID/status")


def _wait_until_asleep(pid: int) -> None:
    """Until the child is blocked again (waiting for its next frame), at most 10 s."""
    deadline = time.monotonic() + 10
    while _proc(pid, "stat").rpartition(")")[2].split()[0] != "S":
        assert time.monotonic() < deadline, "the instance did not go back to waiting"
        os.sched_yield()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="counts context switches in /proc")
def test_reading_the_reply_does_not_wake_the_instance() -> None:
    """Each invocation wakes the instance once. Reading its reply frees buffer space on its socket, which wakes a
    task blocked in recv(2) on that socket for nothing (a context switch in and out); one waiting in poll(2) for
    POLLIN sleeps on."""
    rounds = 40
    with _serving() as (channel, pid):
        channel.sendall(_invoke_frame({"n": 0}))
        assert _read_result(channel) == {"n": 0}
        _wait_until_asleep(pid)
        before = _voluntary_switches(pid)
        for number in range(rounds):
            channel.sendall(_invoke_frame({"n": number}))
            select.select([channel], [], [], 10)  # the reply is there...
            _wait_until_asleep(pid)  # ... and the instance waits for the next frame: now read the reply
            assert _read_result(channel) == {"n": number}
        _wait_until_asleep(pid)
        switches = _voluntary_switches(pid) - before
    assert switches <= rounds * 1.25, f"{switches} voluntary context switches for {rounds} invocations"
