"""``POST /hearth/tune/{name}``'s checks: memory sizes and runs, refused with InvalidParameterValueException."""

from __future__ import annotations

import pytest

from hearth import errors
from hearth.api.tune import memory_sizes, runs_of


def test_sizes_are_sorted_and_without_repeats() -> None:
    assert memory_sizes([1024, 128, 256, 128]) == [128, 256, 1024]
    assert memory_sizes([10240]) == [10240]


@pytest.mark.parametrize("value", [[127], [10241], [0], [256, 64], ["256"], [256.0], [True], [], None, 512, "128"])
def test_sizes_outside_lambdas_range_or_not_whole_mb_are_refused(value: object) -> None:
    with pytest.raises(errors.InvalidParameterValue) as raised:
        memory_sizes(value)
    assert raised.value.status == 400
    assert raised.value.error_type == "InvalidParameterValueException"
    assert "128" in raised.value.message and "10240" in raised.value.message


def test_at_most_twenty_sizes() -> None:
    assert len(memory_sizes(list(range(128, 128 + 20)))) == 20
    with pytest.raises(errors.InvalidParameterValue, match="At most 20"):
        memory_sizes(list(range(128, 128 + 21)))


@pytest.mark.parametrize("value", [0, 1001, -1, 2.5, "10", True, None])
def test_runs_from_1_to_1000(value: object) -> None:
    with pytest.raises(errors.InvalidParameterValue, match="runs must be a whole number from 1 to 1000"):
        runs_of(value)
    assert runs_of(1) == 1 and runs_of(1000) == 1000
