"""Reading job list filters from query arguments, and the SQL they make."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentos.errors import BadRequest
from agentos.services.job_lifecycle import JobStatus
from agentos.services.job_queries import JobQuery, parse_query


def test_lists_may_be_repeated_or_comma_separated() -> None:
    """``status`` and ``kind`` take several values either way, once each."""
    query = parse_query({"status": ["failed,queued", "failed"], "kind": ["a", "b,a"]})

    assert query.statuses == (JobStatus.FAILED, JobStatus.QUEUED)
    assert query.kinds == ("a", "b")


def test_times_without_a_zone_are_utc() -> None:
    """A date or a naive time is taken as UTC."""
    query = parse_query({"since": ["2026-12-01"], "until": ["2026-12-02T08:00:00Z"]})

    assert query.since == datetime(2026, 12, 1, tzinfo=UTC)
    assert query.until == datetime(2026, 12, 2, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        pytest.param({"status": ["done"]}, "status", id="unknown-status"),
        pytest.param({"since": ["yesterday"]}, "since", id="not-a-time"),
        pytest.param({"since": ["2026-12-02"], "until": ["2026-12-01"]}, "since",
                     id="since-after-until"),
        pytest.param({"sort": ["owner_id; DROP TABLE jobs"]}, "sort",
                     id="unknown-sort"),
        pytest.param({"kind": ["k" * 65]}, "kind", id="kind-too-long"),
        pytest.param({"kind": [",".join(["k"] * 21)]}, "kind", id="too-many-kinds"),
    ],
)
def test_bad_arguments_are_refused_by_name(args: dict, field: str) -> None:
    """Each bad argument is a 400 whose details name it."""
    with pytest.raises(BadRequest) as caught:
        parse_query(args)

    assert caught.value.details[0]["field"] == field


def test_where_numbers_placeholders_from_the_given_start() -> None:
    """Every value is a placeholder; none is written into the SQL."""
    query = JobQuery(statuses=(JobStatus.QUEUED, JobStatus.RUNNING), kinds=("x'--",),
                     owner_id="o")

    where, args = query.where(first=3)

    assert where == ("WHERE owner_id = $3 AND status IN ($4, $5) AND kind IN ($6)")
    assert args == ["o", "queued", "running", "x'--"]


def test_an_empty_query_has_no_where_and_sorts_newest_first() -> None:
    """No filters select every job, newest first."""
    assert JobQuery().where() == ("", [])
    assert JobQuery().order_by() == "ORDER BY created_at DESC, id DESC"
