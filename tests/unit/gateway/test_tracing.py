"""Trace context: a caller's traceparent or X-Amzn-Trace-Id is carried on (one trace, a new span), a malformed one
is replaced, and the two formats name the same trace."""

from __future__ import annotations

import re
import time

import pytest

from hearth.gateway.tracing import trace_of

W3C = "4bf92f3577b34da6a3ce929d0e0e4736"


def headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value.encode()) for name, value in values.items()]


def test_a_traceparent_is_continued_with_a_new_span() -> None:
    trace = trace_of(headers(traceparent=f"00-{W3C}-00f067aa0ba902b7-01"))
    assert (trace.trace_id, trace.parent_id, trace.sampled) == (W3C, "00f067aa0ba902b7", True)
    assert trace.span_id != "00f067aa0ba902b7" and re.fullmatch(r"[0-9a-f]{16}", trace.span_id)
    assert trace.traceparent() == f"00-{W3C}-{trace.span_id}-01"
    assert trace.xray() == f"Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent={trace.span_id};Sampled=1"


def test_an_xray_header_is_the_same_trace_in_the_other_format() -> None:
    trace = trace_of(headers(x_amzn_trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
                                             "Sampled=1"))
    assert trace.trace_id == "5759e988bd862e3fe1be46a994272793" and trace.parent_id == "53995c3f42cd8ad8"
    assert trace.sampled and trace.traceparent().startswith("00-5759e988bd862e3fe1be46a994272793-")


def test_traceparent_wins_over_xray_and_a_bad_one_falls_back() -> None:
    both = headers(traceparent=f"00-{W3C}-00f067aa0ba902b7-00",
                   x_amzn_trace_id="Root=1-5759e988-bd862e3fe1be46a994272793")
    assert trace_of(both).trace_id == W3C
    bad = headers(traceparent="00-notatrace-00f067aa0ba902b7-01",
                  x_amzn_trace_id="Root=1-5759e988-bd862e3fe1be46a994272793")
    assert trace_of(bad).trace_id == "5759e988bd862e3fe1be46a994272793"


@pytest.mark.parametrize("value", ["", "garbage", f"ff-{W3C}-00f067aa0ba902b7-01", f"00-{'0' * 32}-00f067aa0ba902b7-01",
                                   f"00-{W3C}-{'0' * 16}-01"])
def test_a_request_without_a_valid_trace_starts_one(value: str) -> None:
    trace = trace_of(headers(traceparent=value) if value else [])
    assert trace.parent_id is None and not trace.sampled
    assert re.fullmatch(r"[0-9a-f]{32}", trace.trace_id) and trace.trace_id != W3C
    assert abs(int(trace.trace_id[:8], 16) - time.time()) < 60  # X-Ray's roots start with the time
    assert trace_of([]).trace_id != trace.trace_id
