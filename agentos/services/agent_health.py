"""Judging workers by their heartbeats and agents by the jobs they finished.

Plain functions over plain data: the agents service reads heartbeat times
and finished jobs from the stores and asks these what they mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Health(StrEnum):
    """How recently a worker was heard from."""

    HEALTHY = "healthy"  # heartbeat younger than the late threshold
    LATE = "late"  # older than late, younger than dead
    DEAD = "dead"  # older than dead, or never heard from
    STOPPED = "stopped"  # exited cleanly; no heartbeat expected


def classify(age_seconds: float | None, *, late: float, dead: float) -> Health:
    """The health of a worker whose last heartbeat is ``age_seconds`` old."""
    if age_seconds is None or age_seconds >= dead:
        return Health.DEAD
    if age_seconds >= late:
        return Health.LATE
    return Health.HEALTHY


def heartbeat_age(last: datetime | None, now: datetime) -> float | None:
    """Seconds since ``last``; never negative, so clock skew reads as fresh."""
    if last is None:
        return None
    return max(0.0, (now - last).total_seconds())


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile by linear interpolation; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    share = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * share


@dataclass(frozen=True)
class FinishedJob:
    """What performance needs to know of one finished job."""

    status: str
    duration_seconds: float | None


def performance(jobs: Sequence[FinishedJob], window_minutes: int) -> dict[str, object]:
    """Throughput, success rate and duration quantiles of ``jobs``.

    Only succeeded and failed jobs count towards the success rate: a
    cancelled job says nothing about the agent. Durations are those of jobs
    that ran (had a start time).
    """
    succeeded = sum(1 for job in jobs if job.status == "succeeded")
    failed = sum(1 for job in jobs if job.status == "failed")
    durations = [j.duration_seconds for j in jobs if j.duration_seconds is not None]
    judged = succeeded + failed
    return {
        "window_minutes": window_minutes,
        "jobs_finished": len(jobs),
        "succeeded": succeeded,
        "failed": failed,
        "jobs_per_minute": round(len(jobs) / window_minutes, 4),
        "success_rate": round(succeeded / judged, 4) if judged else None,
        "duration_p50_seconds": _rounded(percentile(durations, 0.50)),
        "duration_p95_seconds": _rounded(percentile(durations, 0.95)),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
