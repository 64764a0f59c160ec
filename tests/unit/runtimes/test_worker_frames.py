"""The instance's frame loop: frames that fit its receive buffer, and frames that arrive in pieces or exceed it."""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator

import orjson
import pytest

from hearth.runtimes.python import protocol, worker

SPEC = {"function": "echo", "version": "$LATEST", "arn": "", "memory_mb": 128, "log_group": "", "log_stream": ""}


def _echo(event: object, context: object) -> object:
    return event


@pytest.fixture
def instance() -> Iterator[socket.socket]:
    """A forked child serving ``_echo`` on one end of a socketpair; the test holds the other end."""
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
        yield ours
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


def _voluntary_switches(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no voluntary_ctxt_switches")


def test_an_idle_instance_sleeps_once_per_invocation() -> None:
    """Reading the reply frees the instance's socket buffer, which wakes a process blocked in recv() on that socket
    (the kernel's write-space wake-up reaches readers too): an instance waiting in recv() was woken for nothing
    after many calls (every call, in the platform), one more pair of context switches per invocation. Waiting for
    POLLIN filters that out: one sleep per call exactly. (Without it: ~1.4 here.)"""
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
    calls = 200
    try:
        for _ in range(20):  # past the first calls' one-off work
            ours.sendall(_invoke_frame({"n": 0}))
            _read_result(ours)
        before = _voluntary_switches(pid)
        readable = select.poll()
        readable.register(ours, select.POLLIN)
        for number in range(calls):
            ours.sendall(_invoke_frame({"n": number}))
            assert readable.poll(10_000), "no reply within 10 s"
            time.sleep(0.001)  # the instance is back waiting for its next call, as when the platform reads
            assert _read_result(ours) == {"n": number}
        per_call = (_voluntary_switches(pid) - before) / calls
    finally:
        ours.close()
        os.waitpid(pid, 0)
    assert per_call < 1.1, f"the instance went to sleep {per_call:.2f} times per invocation (once is the floor)"
