"""The instance lifecycle is a state machine; an illegal transition raises ``ServiceError``."""

from __future__ import annotations

import pytest

from hearth.errors import ServiceError
from hearth.pool.instance import Lifecycle, State


def at(*path: State) -> Lifecycle:
    lifecycle = Lifecycle()
    for state in path:
        lifecycle.to(state)
    return lifecycle


def test_a_new_instance_is_cold() -> None:
    assert Lifecycle().state is State.COLD


def test_the_life_of_an_instance() -> None:
    lifecycle = at(State.INITIALIZING, State.IDLE, State.BUSY, State.IDLE, State.BUSY, State.IDLE, State.STOPPED)
    assert lifecycle.state is State.STOPPED


@pytest.mark.parametrize("path", [
    (),
    (State.INITIALIZING,),
    (State.INITIALIZING, State.IDLE),
    (State.INITIALIZING, State.IDLE, State.BUSY),
])
def test_every_state_can_stop(path: tuple[State, ...]) -> None:
    lifecycle = at(*path)
    lifecycle.to(State.STOPPED)
    assert lifecycle.state is State.STOPPED


def test_stopping_twice_is_allowed() -> None:
    lifecycle = at(State.STOPPED)
    lifecycle.to(State.STOPPED)
    assert lifecycle.state is State.STOPPED


@pytest.mark.parametrize("path, target", [
    ((), State.IDLE),
    ((), State.BUSY),
    ((), State.COLD),
    ((State.INITIALIZING,), State.BUSY),
    ((State.INITIALIZING,), State.INITIALIZING),
    ((State.INITIALIZING, State.IDLE), State.INITIALIZING),
    ((State.INITIALIZING, State.IDLE), State.COLD),
    ((State.INITIALIZING, State.IDLE, State.BUSY), State.BUSY),
    ((State.INITIALIZING, State.IDLE, State.BUSY), State.INITIALIZING),
    ((State.STOPPED,), State.IDLE),
    ((State.STOPPED,), State.INITIALIZING),
    ((State.STOPPED,), State.COLD),
])
def test_illegal_transitions_raise_and_leave_the_state_alone(path: tuple[State, ...], target: State) -> None:
    lifecycle = at(*path)
    before = lifecycle.state
    with pytest.raises(ServiceError, match=f"instance cannot go from {before.value} to {target.value}"):
        lifecycle.to(target)
    assert lifecycle.state is before
