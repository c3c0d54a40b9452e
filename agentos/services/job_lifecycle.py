"""The life of a job: its statuses, the legal moves between them, and who moves.

Theory of operation. A job is created ``queued`` and enters the dispatch
queue at once. A worker claims it (``running``), reports progress while it
works, and ends it ``succeeded`` or ``failed``. A person or an operator may
cancel it while it waits or runs. A failed or cancelled job may be retried,
which queues it again with one more attempt. A running job whose worker is
lost is handed back to the queue. ``succeeded`` is final: retrying work that
succeeded is a new job, not a retry.

Every move is a compare-and-set on the stored status (``UPDATE ... WHERE
status = <the status we read>``), so of two concurrent moves from one status
exactly one happens; the other reads the new status and is judged again.
The table below is the whole rule; nothing else decides legality.
``retry_changes`` and ``report_changes`` say what the moves that carry
data write besides the status.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from agentos.errors import BadRequest, Conflict


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"  # waiting in the dispatch queue
    RUNNING = "running"  # claimed by a worker
    SUCCEEDED = "succeeded"  # finished well; final
    FAILED = "failed"  # finished badly; may be retried
    CANCELLED = "cancelled"  # stopped by a person or operator; may be retried


class Move(StrEnum):
    """What makes a job change status."""

    CLAIM = "claim"  # a worker takes the job from the queue
    REPORT = "report"  # a worker reports status or progress
    CANCEL = "cancel"  # a person, an operator or queue.clear stops it
    RETRY = "retry"  # a failed or cancelled job is queued again
    RELEASE = "release"  # a lost worker's job goes back to the queue


S, M = JobStatus, Move

TRANSITIONS: dict[tuple[JobStatus, JobStatus], frozenset[Move]] = {
    (S.QUEUED, S.RUNNING): frozenset({M.CLAIM, M.REPORT}),
    (S.QUEUED, S.CANCELLED): frozenset({M.CANCEL, M.REPORT}),
    (S.RUNNING, S.RUNNING): frozenset({M.REPORT}),  # a progress report
    (S.RUNNING, S.SUCCEEDED): frozenset({M.REPORT}),
    (S.RUNNING, S.FAILED): frozenset({M.REPORT}),
    (S.RUNNING, S.CANCELLED): frozenset({M.CANCEL, M.REPORT}),
    (S.RUNNING, S.QUEUED): frozenset({M.RELEASE}),
    (S.FAILED, S.QUEUED): frozenset({M.RETRY}),
    (S.CANCELLED, S.QUEUED): frozenset({M.RETRY}),
}

FINISHED = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})
"""Statuses that stamp ``finished_at``."""

ACTIVE = frozenset({S.QUEUED, S.RUNNING})
"""Statuses of a job that still holds a place in the queue or on a worker."""


def parse_status(raw: str, *, field: str = "status") -> JobStatus:
    """The status named ``raw``, or a 400 that lists the known names."""
    try:
        return JobStatus(raw)
    except ValueError:
        names = ", ".join(status.value for status in JobStatus)
        raise BadRequest(
            f"'{raw[:40]}' is not a job status; use one of: {names}.",
            details=[{"field": field, "value": raw[:100], "allowed": names}],
        ) from None


def sources(target: JobStatus, move: Move) -> frozenset[JobStatus]:
    """The statuses from which ``move`` may bring a job to ``target``."""
    return frozenset(
        current
        for (current, to), moves in TRANSITIONS.items()
        if to is target and move in moves
    )


def check_move(current: JobStatus, target: JobStatus, move: Move) -> None:
    """Raise 409 unless ``move`` may take a job from ``current`` to ``target``."""
    if move in TRANSITIONS.get((current, target), frozenset()):
        return
    raise Conflict(
        _refusal(current, target, move),
        details=[{"status": current.value, "requested": target.value, "by": move}],
    )


def retry_changes(job: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The columns a retry writes besides the status: a clean, fresh attempt."""
    return {
        "attempts": job["attempts"] + 1,
        "queued_at": now,
        "started_at": None,
        "finished_at": None,
        "worker_id": None,
        "agent_id": None,
        "progress": 0.0,
        "error": None,
        "result": None,
    }


def report_changes(
    current: JobStatus,
    target: JobStatus,
    now: datetime,
    *,
    progress: float | None = None,
    error: str | None = None,
    result: dict[str, Any] | None = None,
    worker_id: str | None = None,
) -> dict[str, Any]:
    """The columns a worker's report writes, status included.

    A start stamps ``started_at``, an end ``finished_at``; success means
    all done (progress 1, no error); a failure or a cancel always carries a
    reason, the worker's or a default one.
    """
    values: dict[str, Any] = {"status": target.value}
    if progress is not None:
        values["progress"] = progress
    if worker_id is not None:
        values["worker_id"] = worker_id
    if result is not None:
        values["result"] = result
    if current is S.QUEUED and target is S.RUNNING:
        values["started_at"] = now
    if target in FINISHED:
        values["finished_at"] = now

    if target is S.SUCCEEDED:
        values.update(progress=1.0, error=None)
    elif target is S.FAILED:
        values["error"] = error or "The worker reported a failure without a reason."
    elif target is S.CANCELLED:
        values["error"] = error or "Cancelled by its worker."
    return values


def _refusal(current: JobStatus, target: JobStatus, move: Move) -> str:
    if move is M.RETRY:
        return (
            f"The job is {current.value}; only a failed or cancelled job can be "
            "retried."
        )
    if move is M.CANCEL and current in FINISHED:
        return f"The job is already {current.value}; there is nothing to cancel."
    if move is M.CLAIM:
        return f"The job is {current.value}, not queued; it cannot be claimed."
    return (
        f"A job cannot go from {current.value} to {target.value}; "
        "read the job's current status and report a legal next status."
    )
