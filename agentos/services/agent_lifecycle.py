"""The life of an agent: what operators ask of it and what its workers report.

Theory of operation. An agent is a definition (name, type, the job kinds it
takes, its concurrency and config); its workers are the processes that run
it. Operators never touch workers directly: they change the agent's
*desired state*, and every worker reads it back with each heartbeat and
follows within one heartbeat interval. So a command is a change of stored
data, and its effect is visible at once in ``GET /api/agents/{id}``, and
within seconds in the workers' reported states.

Desired states and commands::

    stopped  --start-->   running   --drain-->  draining
    running  --stop-->    stopped   <--stop--   draining
    draining --start-->   running
    any      --restart--> running   (generation + 1)

``restart`` raises the agent's ``generation``; a worker that started under
an older generation finishes its current job and exits so that a fresh one
takes its place. ``pause`` and ``resume`` are a separate flag: a paused
agent keeps its workers but they take no new jobs. A command that would not
change anything (``start`` on a running agent) is a conflict, so that an
operator learns the agent was not in the state they believed.
"""

from __future__ import annotations

from enum import StrEnum

from agentos.errors import Conflict


class DesiredState(StrEnum):
    """What operators want an agent's workers to do."""

    RUNNING = "running"  # take and run jobs of the agent's kinds
    DRAINING = "draining"  # finish running jobs, take no new ones, then stop
    STOPPED = "stopped"  # no worker of the agent runs


class Command(StrEnum):
    """An operator's request to change an agent's desired state."""

    START = "start"
    STOP = "stop"
    DRAIN = "drain"
    RESTART = "restart"


class WorkerState(StrEnum):
    """What a worker reports about itself with each heartbeat."""

    STARTING = "starting"  # loading, not taking jobs yet
    IDLE = "idle"  # waiting for a job
    BUSY = "busy"  # running at least one job
    DRAINING = "draining"  # finishing jobs, taking none
    STOPPED = "stopped"  # exited cleanly


D, C = DesiredState, Command

TRANSITIONS: dict[tuple[DesiredState, Command], DesiredState] = {
    (D.STOPPED, C.START): D.RUNNING,
    (D.DRAINING, C.START): D.RUNNING,
    (D.RUNNING, C.STOP): D.STOPPED,
    (D.DRAINING, C.STOP): D.STOPPED,
    (D.RUNNING, C.DRAIN): D.DRAINING,
    (D.RUNNING, C.RESTART): D.RUNNING,
    (D.STOPPED, C.RESTART): D.RUNNING,
    (D.DRAINING, C.RESTART): D.RUNNING,
}

ACTIVE_WORKER_STATES = frozenset(
    {WorkerState.STARTING, WorkerState.IDLE, WorkerState.BUSY, WorkerState.DRAINING}
)


def next_state(name: str, current: str, command: Command) -> DesiredState:
    """The desired state after ``command``, or raise 409 naming what is allowed."""
    state = DesiredState(current)
    target = TRANSITIONS.get((state, command))
    if target is not None:
        return target

    allowed = sorted(c.value for (s, c) in TRANSITIONS if s is state)
    raise Conflict(
        f"Agent '{name}' is {state.value}; '{command.value}' does not apply. "
        f"From {state.value} you may: {', '.join(allowed)}.",
        details=[{"field": "desired_state", "value": state.value,
                  "allowed": allowed}],
    )


def check_pause(name: str, paused: bool, *, pause: bool) -> None:
    """Raise 409 when pausing a paused agent or resuming one that is not."""
    if paused is not pause:
        return
    word = "paused" if paused else "not paused"
    verb = "pause" if pause else "resume"
    raise Conflict(f"Agent '{name}' is already {word}; there is nothing to {verb}.")


def observed_state(worker_states: list[str]) -> str:
    """One word for what an agent's live workers are doing.

    ``running`` when any worker takes jobs, ``draining`` when the only live
    ones are draining, ``starting`` while they start, ``stopped`` when none
    is alive.
    """
    live = set(worker_states) & {state.value for state in ACTIVE_WORKER_STATES}
    if live & {WorkerState.IDLE, WorkerState.BUSY}:
        return "running"
    if WorkerState.DRAINING in live:
        return "draining"
    if WorkerState.STARTING in live:
        return "starting"
    return "stopped"
