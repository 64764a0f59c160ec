"""The instance's frame loop: frames that fit its receive buffer, and frames that arrive in pieces or exceed it."""

from __future__ import annotations

import os
import socket
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
