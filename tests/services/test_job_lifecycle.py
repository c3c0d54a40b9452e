"""The transition table of a job's life, as plain data and functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentos.errors import BadRequest, Conflict
from agentos.services.job_lifecycle import (
    TRANSITIONS,
    JobStatus,
    Move,
    check_move,
    parse_status,
    report_changes,
    retry_changes,
    sources,
)

S, M = JobStatus, Move

LEGAL = [
    pytest.param(S.QUEUED, S.RUNNING, M.CLAIM, id="claim"),
    pytest.param(S.QUEUED, S.RUNNING, M.REPORT, id="report-start"),
    pytest.param(S.RUNNING, S.RUNNING, M.REPORT, id="report-progress"),
    pytest.param(S.RUNNING, S.SUCCEEDED, M.REPORT, id="report-success"),
    pytest.param(S.RUNNING, S.FAILED, M.REPORT, id="report-failure"),
    pytest.param(S.QUEUED, S.CANCELLED, M.CANCEL, id="cancel-queued"),
    pytest.param(S.RUNNING, S.CANCELLED, M.CANCEL, id="cancel-running"),
    pytest.param(S.FAILED, S.QUEUED, M.RETRY, id="retry-failed"),
    pytest.param(S.CANCELLED, S.QUEUED, M.RETRY, id="retry-cancelled"),
    pytest.param(S.RUNNING, S.QUEUED, M.RELEASE, id="release"),
]

ILLEGAL = [
    pytest.param(S.SUCCEEDED, S.QUEUED, M.RETRY, id="retry-succeeded"),
    pytest.param(S.QUEUED, S.QUEUED, M.RETRY, id="retry-queued"),
    pytest.param(S.SUCCEEDED, S.CANCELLED, M.CANCEL, id="cancel-succeeded"),
    pytest.param(S.CANCELLED, S.CANCELLED, M.CANCEL, id="cancel-twice"),
    pytest.param(S.QUEUED, S.SUCCEEDED, M.REPORT, id="report-skips-running"),
    pytest.param(S.FAILED, S.RUNNING, M.REPORT, id="report-revives-failed"),
    pytest.param(S.RUNNING, S.QUEUED, M.REPORT, id="report-requeues"),
    pytest.param(S.RUNNING, S.RUNNING, M.CLAIM, id="claim-running"),
]


@pytest.mark.parametrize(("current", "target", "move"), LEGAL)
def test_legal_moves_pass(current: JobStatus, target: JobStatus, move: Move) -> None:
    """Every move the table lists is allowed."""
    check_move(current, target, move)


@pytest.mark.parametrize(("current", "target", "move"), ILLEGAL)
def test_illegal_moves_are_conflicts(
    current: JobStatus, target: JobStatus, move: Move
) -> None:
    """A move the table does not list is a 409 naming both statuses."""
    with pytest.raises(Conflict) as caught:
        check_move(current, target, move)

    assert caught.value.details[0]["status"] == current.value
    assert caught.value.details[0]["requested"] == target.value


def test_succeeded_is_final() -> None:
    """No move at all leaves succeeded."""
    assert not [pair for pair in TRANSITIONS if pair[0] is S.SUCCEEDED]


def test_sources_lists_where_a_move_may_start() -> None:
    """Cancelling starts from queued or running; retrying from failed or cancelled."""
    assert sources(S.CANCELLED, M.CANCEL) == {S.QUEUED, S.RUNNING}
    assert sources(S.QUEUED, M.RETRY) == {S.FAILED, S.CANCELLED}


@pytest.mark.parametrize("raw", ["Queued", "done", "", "queued ", "x" * 500])
def test_unknown_status_names_are_bad_requests(raw: str) -> None:
    """Status names are exact; the error lists the known ones."""
    with pytest.raises(BadRequest, match="queued, running, succeeded"):
        parse_status(raw)


NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_a_retry_is_a_clean_fresh_attempt() -> None:
    """Retrying counts an attempt and clears what the last run left behind."""
    job = {"attempts": 2, "error": "disk full", "worker_id": "w", "progress": 0.7}

    changes = retry_changes(job, NOW)

    assert changes["attempts"] == 3
    assert changes["queued_at"] == NOW
    assert (changes["error"], changes["worker_id"], changes["progress"]) == (
        None, None, 0.0)


@pytest.mark.parametrize(
    ("current", "target", "given", "expected"),
    [
        pytest.param(S.QUEUED, S.RUNNING, {"worker_id": "w"},
                     {"started_at": NOW, "worker_id": "w"}, id="start"),
        pytest.param(S.RUNNING, S.RUNNING, {"progress": 0.4}, {"progress": 0.4},
                     id="progress"),
        pytest.param(S.RUNNING, S.SUCCEEDED, {"progress": 0.2},
                     {"progress": 1.0, "error": None, "finished_at": NOW},
                     id="success-means-all-done"),
        pytest.param(S.RUNNING, S.FAILED, {},
                     {"error": "The worker reported a failure without a reason.",
                      "finished_at": NOW}, id="failure-gets-a-reason"),
        pytest.param(S.RUNNING, S.CANCELLED, {"error": "stopped"},
                     {"error": "stopped", "finished_at": NOW},
                     id="cancel-keeps-reason"),
    ],
)
def test_report_changes(
    current: JobStatus, target: JobStatus, given: dict, expected: dict
) -> None:
    """A report writes its status plus the stamps and fields its move implies."""
    changes = report_changes(current, target, NOW, **given)

    assert changes == {"status": target.value, **expected}
