"""Judging workers by heartbeat age and agents by their finished jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentos.services.agent_health import (
    FinishedJob,
    Health,
    classify,
    heartbeat_age,
    percentile,
    performance,
)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        pytest.param(0.0, Health.HEALTHY, id="fresh"),
        pytest.param(14.9, Health.HEALTHY, id="just-under-late"),
        pytest.param(15.0, Health.LATE, id="at-late"),
        pytest.param(59.9, Health.LATE, id="just-under-dead"),
        pytest.param(60.0, Health.DEAD, id="at-dead"),
        pytest.param(None, Health.DEAD, id="never-heard"),
    ],
)
def test_a_worker_is_judged_by_its_heartbeat_age(
    age: float | None, expected: Health
) -> None:
    """Younger than late is healthy, older than dead is dead, between is late."""

    assert classify(age, late=15, dead=60) is expected


def test_a_heartbeat_from_the_future_reads_as_fresh() -> None:
    """Clock skew between hosts never makes an age negative."""
    now = datetime.now(UTC)

    age = heartbeat_age(now + timedelta(seconds=3), now)

    assert age == 0.0


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        pytest.param([], 0.5, None, id="empty"),
        pytest.param([4.0], 0.95, 4.0, id="one"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 0.5, 2.5, id="even-median"),
        pytest.param([10.0, 1.0, 5.0], 0.5, 5.0, id="unsorted"),
        pytest.param(list(map(float, range(1, 101))), 0.95, 95.05, id="p95"),
    ],
)
def test_percentile_interpolates_between_ranks(
    values: list[float], fraction: float, expected: float | None
) -> None:
    """Quantiles interpolate linearly between the neighbouring values."""

    result = percentile(values, fraction)

    assert result == (None if expected is None else pytest.approx(expected))


def test_performance_counts_throughput_success_and_durations() -> None:
    """Cancelled jobs count as finished but not in the success rate."""
    jobs = [
        FinishedJob("succeeded", 10.0),
        FinishedJob("succeeded", 20.0),
        FinishedJob("failed", 30.0),
        FinishedJob("cancelled", None),
    ]

    report = performance(jobs, window_minutes=2)

    assert report["jobs_finished"] == 4
    assert report["jobs_per_minute"] == 2.0
    assert report["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["duration_p50_seconds"] == 20.0
    assert report["duration_p95_seconds"] == 29.0


def test_performance_of_an_idle_agent_has_no_rate() -> None:
    """Without finished jobs there is no success rate and no duration."""

    report = performance([], window_minutes=60)

    assert report["success_rate"] is None
    assert report["duration_p95_seconds"] is None
    assert report["jobs_per_minute"] == 0.0
