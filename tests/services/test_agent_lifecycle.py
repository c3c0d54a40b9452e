"""The agent lifecycle table: which commands apply in which desired state."""

from __future__ import annotations

import pytest

from agentos.errors import Conflict
from agentos.services.agent_lifecycle import (
    TRANSITIONS,
    Command,
    DesiredState,
    check_pause,
    next_state,
    observed_state,
)

D, C = DesiredState, Command


@pytest.mark.parametrize(
    ("current", "command", "expected"),
    [
        pytest.param(D.STOPPED, C.START, D.RUNNING, id="start-stopped"),
        pytest.param(D.DRAINING, C.START, D.RUNNING, id="start-draining"),
        pytest.param(D.RUNNING, C.STOP, D.STOPPED, id="stop-running"),
        pytest.param(D.DRAINING, C.STOP, D.STOPPED, id="stop-draining"),
        pytest.param(D.RUNNING, C.DRAIN, D.DRAINING, id="drain-running"),
        pytest.param(D.STOPPED, C.RESTART, D.RUNNING, id="restart-stopped"),
        pytest.param(D.RUNNING, C.RESTART, D.RUNNING, id="restart-running"),
    ],
)
def test_a_legal_command_moves_the_desired_state(
    current: DesiredState, command: Command, expected: DesiredState
) -> None:
    """Each command that applies leads to the state the table names."""

    assert next_state("a", current.value, command) is expected


@pytest.mark.parametrize(
    ("current", "command"),
    [
        pytest.param(D.RUNNING, C.START, id="start-running"),
        pytest.param(D.STOPPED, C.STOP, id="stop-stopped"),
        pytest.param(D.STOPPED, C.DRAIN, id="drain-stopped"),
        pytest.param(D.DRAINING, C.DRAIN, id="drain-draining"),
    ],
)
def test_a_command_that_changes_nothing_is_a_conflict_naming_the_options(
    current: DesiredState, command: Command
) -> None:
    """A no-op command is 409, and the message lists what the state allows."""

    with pytest.raises(Conflict) as caught:
        next_state("clipper", current.value, command)

    allowed = sorted(c.value for (s, c) in TRANSITIONS if s is current)
    assert caught.value.details[0]["allowed"] == allowed
    assert "clipper" in caught.value.message


def test_restart_applies_in_every_state() -> None:
    """No desired state refuses a restart."""

    reachable = {s for (s, c) in TRANSITIONS if c is C.RESTART}

    assert reachable == set(DesiredState)


@pytest.mark.parametrize(
    ("paused", "pause", "refused"),
    [
        pytest.param(False, True, False, id="pause-running"),
        pytest.param(True, False, False, id="resume-paused"),
        pytest.param(True, True, True, id="pause-paused"),
        pytest.param(False, False, True, id="resume-unpaused"),
    ],
)
def test_pause_and_resume_refuse_a_no_op(
    paused: bool, pause: bool, refused: bool
) -> None:
    """Pausing a paused agent or resuming a running one is 409."""
    if refused:
        with pytest.raises(Conflict):
            check_pause("a", paused, pause=pause)
    else:
        check_pause("a", paused, pause=pause)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        pytest.param([], "stopped", id="no-workers"),
        pytest.param(["stopped"], "stopped", id="only-stopped"),
        pytest.param(["starting"], "starting", id="starting"),
        pytest.param(["draining", "starting"], "draining", id="draining"),
        pytest.param(["draining", "idle"], "running", id="one-takes-jobs"),
        pytest.param(["busy"], "running", id="busy"),
    ],
)
def test_observed_state_summarizes_live_workers(
    states: list[str], expected: str
) -> None:
    """Any worker taking jobs makes the agent running; none alive, stopped."""

    assert observed_state(states) == expected
