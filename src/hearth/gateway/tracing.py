"""Trace context for a request: W3C ``traceparent`` and AWS X-Ray's ``X-Amzn-Trace-Id``, read, made or carried on.

``trace_of(headers)`` takes the caller's trace from ``traceparent`` when it is valid, else from ``X-Amzn-Trace-Id``,
else starts a new one (not sampled), and gives the invocation a span id of its own. The two formats name the same
128-bit trace: X-Ray's root ``1-<8 hex>-<24 hex>`` is the W3C trace id cut after its first 8 digits (a new trace
starts with the current time there, as X-Ray's do), so a caller on either side sees its trace continue.

The gateway passes the trace to the function (the event's ``x-amzn-trace-id`` header, ``context.trace_id`` and
``_X_AMZN_TRACE_ID`` for Python, ``Lambda-Runtime-Trace-Id`` for the Runtime API, both headers for ``http``
servers), records it with the invocation, and returns both headers in the response.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable
from typing import NamedTuple

_random = random.Random()  # seeded from os.urandom; ids need to be unique, not secret
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ROOT = re.compile(r"^1-([0-9a-f]{8})-([0-9a-f]{24})$")
TRACEPARENT = b"traceparent"
XRAY = b"x-amzn-trace-id"


class Trace(NamedTuple):
    """One invocation's place in a trace."""

    trace_id: str  # 32 lower-case hex digits
    span_id: str  # this invocation's span: 16 hex digits
    parent_id: str | None  # the caller's span, when the request carried one
    sampled: bool

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def xray(self) -> str:
        """The ``X-Amzn-Trace-Id`` value (and ``_X_AMZN_TRACE_ID``) naming this invocation's span."""
        return f"Root=1-{self.trace_id[:8]}-{self.trace_id[8:]};Parent={self.span_id};Sampled={int(self.sampled)}"


def trace_of(headers: Iterable[tuple[bytes, bytes]]) -> Trace:
    """The request's trace (see the module docstring)."""
    parent = xray = None
    for name, value in headers:
        if name == TRACEPARENT:
            parent = value
        elif name == XRAY:
            xray = value
    if parent is not None:
        found = _TRACEPARENT.match(parent.decode("latin-1").strip().lower())
        if found is not None and found.group(1) != "ff" and set(found.group(2)) != {"0"} \
                and set(found.group(3)) != {"0"}:
            return Trace(found.group(2), _span(), found.group(3), int(found.group(4), 16) & 1 == 1)
    if xray is not None:
        trace = _from_xray(xray.decode("latin-1"))
        if trace is not None:
            return trace
    return Trace(f"{int(time.time()) & 0xFFFFFFFF:08x}{_random.getrandbits(96):024x}", _span(), None, False)


def _from_xray(value: str) -> Trace | None:
    fields = {}
    for part in value.split(";"):
        key, _, item = part.strip().partition("=")
        fields[key.strip()] = item.strip()
    root = _ROOT.match(fields.get("Root", "").lower())
    if root is None:
        return None
    parent = fields.get("Parent", "").lower()
    return Trace(root.group(1) + root.group(2), _span(), parent if re.fullmatch(r"[0-9a-f]{16}", parent) else None,
                 fields.get("Sampled") == "1")


def _span() -> str:
    return f"{_random.getrandbits(64) or 1:016x}"
