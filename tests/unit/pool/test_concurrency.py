"""Platform-wide concurrency: reserved capacity per function out of one limit, counted in invocations in flight."""

from __future__ import annotations

import pytest

from hearth import errors
from hearth.pool.concurrency import Concurrency, check_reservation, min_unreserved


def take(concurrency: Concurrency, function: str, times: int) -> int:
    """How many of ``times`` acquisitions succeed."""
    return sum(concurrency.try_acquire(function) for _ in range(times))


def test_unreserved_functions_share_the_whole_limit() -> None:
    concurrency = Concurrency(10)
    assert take(concurrency, "a", 6) == 6
    assert take(concurrency, "b", 6) == 4
    concurrency.release("a")
    assert take(concurrency, "b", 2) == 1


def test_a_reservation_caps_the_function_and_is_set_aside_for_it() -> None:
    concurrency = Concurrency(10)
    concurrency.reserve("r", 3)
    assert concurrency.limit_of("r") == 3
    assert concurrency.limit_of("other") == 7
    assert take(concurrency, "other", 10) == 7  # the reserved 3 are not available to others
    assert take(concurrency, "r", 5) == 3  # and the reserved function gets them even when others are full


def test_reserved_zero_disables_the_function() -> None:
    concurrency = Concurrency(10)
    concurrency.reserve("off", 0)
    assert take(concurrency, "off", 3) == 0


def test_changing_a_reservation_while_invocations_run_keeps_the_counts_right() -> None:
    concurrency = Concurrency(10)
    assert take(concurrency, "f", 2) == 2
    concurrency.reserve("f", 2)  # the two running now count against f's own reservation
    assert take(concurrency, "other", 10) == 8
    concurrency.release("f")
    concurrency.reserve("f", None)  # one still running moves back to the shared part
    assert take(concurrency, "other", 1) == 1  # 8 + 1 + f's one = 10
    assert take(concurrency, "other", 1) == 0
    concurrency.release("f")
    assert take(concurrency, "other", 1) == 1


def test_reservations_must_leave_the_minimum_unreserved() -> None:
    assert min_unreserved(1000) == 100
    assert min_unreserved(10) == 1
    assert min_unreserved(3) == 1  # never 0: one reservation must not be able to starve everyone else
    check_reservation(1000, {"a": 400}, "b", 500)
    with pytest.raises(errors.InvalidParameterValue, match=r"below its minimum value of \[100\]"):
        check_reservation(1000, {"a": 400}, "b", 501)
    check_reservation(1000, {"b": 900}, "b", 900)  # replacing one's own reservation does not count it twice
    with pytest.raises(errors.InvalidParameterValue, match="0 or more"):
        check_reservation(1000, {}, "b", -1)
