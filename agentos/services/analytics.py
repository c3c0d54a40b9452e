"""Analytics: what the jobs and uploads tables say about a recent window.

``metrics`` answers ``GET /api/analytics/metrics`` and is what the admin
read model calls for the same figures: jobs per day and status, throughput,
failure rate, run-time quantiles and upload volume over the last
``window_days`` days (UTC), for one owner or for everyone.

Days are grouped by the database, with the one expression that differs
between the dialects; quantiles are taken in Python over a bounded sample
of the newest finished jobs, since SQLite has no percentile function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from agentos.errors import BadRequest
from agentos.services.base import CallContext, Service
from agentos.services.catalog import register
from agentos.services.records import Row, iso, utc_now

MAX_WINDOW_DAYS = 90
DURATION_SAMPLES = 10_000
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")

_DAY = {
    "postgresql": "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    # SQLite holds times as fixed-width UTC ISO text: the date is its prefix.
    "sqlite": "substr(created_at, 1, 10)",
}


def quantile(ordered: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank quantile of already sorted values; ``None`` if empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(len(ordered) * fraction))
    return ordered[rank - 1]


def quantiles(ordered: Sequence[float]) -> dict[str, float | None]:
    """Median, 95th percentile and mean of sorted values, rounded to ms."""
    if not ordered:
        return {"p50": None, "p95": None, "mean": None}
    return {
        "p50": round(quantile(ordered, 0.50) or 0.0, 3),
        "p95": round(quantile(ordered, 0.95) or 0.0, 3),
        "mean": round(sum(ordered) / len(ordered), 3),
    }


@register
class AnalyticsService(Service):
    """Figures over a window of days, computed from the stored rows."""

    name = "analytics"

    async def metrics(
        self, *, window_days: int = 7, owner_id: str | None = None
    ) -> dict[str, Any]:
        """Jobs per status and day, throughput, failure rate, upload volume.

        The window starts at midnight UTC ``window_days - 1`` days ago, so
        ``1`` means today. ``owner_id`` limits every figure to one owner.
        """
        if isinstance(window_days, bool) or not 1 <= window_days <= MAX_WINDOW_DAYS:
            raise BadRequest(
                f"'days' must be a whole number from 1 to {MAX_WINDOW_DAYS}."
            )
        now = utc_now()
        since = datetime.combine(now.date(), time(), tzinfo=UTC) - timedelta(
            days=window_days - 1
        )
        days = await self._jobs_per_day(since, owner_id)
        finished, runs = await self._finished(since, owner_id)
        hours = max((now - since).total_seconds() / 3600, 1 / 60)

        ended = finished["succeeded"] + finished["failed"]
        return {
            "window": {"days": window_days, "since": iso(since), "until": iso(now)},
            "jobs_per_day": _fill_days(days, since, window_days),
            "throughput": {
                "finished": sum(finished.values()),
                "succeeded": finished["succeeded"],
                "per_hour": round(finished["succeeded"] / hours, 4),
            },
            "failure_rate": round(finished["failed"] / ended, 4) if ended else None,
            "run_seconds": quantiles(runs),
            "uploads": await self._uploads(since, owner_id),
        }

    async def metrics_for(
        self, ctx: CallContext, *, window_days: int = 7
    ) -> dict[str, Any]:
        """``metrics`` as the caller may see them: their own under own_only."""
        owner = ctx.principal.subject if ctx.own_only else None
        data = await self.metrics(window_days=window_days, owner_id=owner)
        return {**data, "scope": "own" if owner else "all"}

    async def _jobs_per_day(self, since: datetime, owner_id: str | None) -> list[Row]:
        day = _DAY[self.db.dialect]
        where, args = _window("created_at", since, owner_id)
        rows: list[Row] = await self.db.fetch(
            f"SELECT {day} AS day, status, COUNT(*) AS n FROM jobs {where} "
            f"GROUP BY {day}, status",
            *args,
        )
        return rows

    async def _finished(
        self, since: datetime, owner_id: str | None
    ) -> tuple[dict[str, int], list[float]]:
        where, args = _window("finished_at", since, owner_id)
        rows = await self.db.fetch(
            f"SELECT status, COUNT(*) AS n FROM jobs {where} GROUP BY status", *args
        )
        counts = {"succeeded": 0, "failed": 0, "cancelled": 0}
        counts.update({row["status"]: int(row["n"]) for row in rows})

        sample = await self.db.fetch(
            f"SELECT started_at, finished_at FROM jobs {where} "
            "AND status = 'succeeded' AND started_at IS NOT NULL "
            f"ORDER BY finished_at DESC LIMIT ${len(args) + 1}",
            *args, DURATION_SAMPLES,
        )
        runs = sorted(
            (row["finished_at"] - row["started_at"]).total_seconds() for row in sample
        )
        return counts, runs

    async def _uploads(self, since: datetime, owner_id: str | None) -> dict[str, Any]:
        where, args = _window("created_at", since, owner_id)
        rows = await self.db.fetch(
            f"SELECT status, COUNT(*) AS n, SUM(size_bytes) AS bytes FROM uploads "
            f"{where} GROUP BY status",
            *args,
        )
        by_status = {row["status"]: int(row["n"]) for row in rows}
        complete = next((row for row in rows if row["status"] == "complete"), None)
        return {
            "count": sum(by_status.values()),
            "by_status": by_status,
            "bytes_complete": int(complete["bytes"] or 0) if complete else 0,
        }


def _window(
    column: str, since: datetime, owner_id: str | None
) -> tuple[str, list[Any]]:
    if owner_id is None:
        return f"WHERE {column} >= $1", [since]
    return f"WHERE {column} >= $1 AND owner_id = $2", [since, owner_id]


def _fill_days(rows: Sequence[Row], since: datetime, window_days: int) -> list[Row]:
    days = {
        (since + timedelta(days=offset)).date().isoformat(): dict.fromkeys(STATUSES, 0)
        for offset in range(window_days)
    }
    for row in rows:
        counts = days.get(row["day"])
        if counts is not None and row["status"] in counts:
            counts[row["status"]] = int(row["n"])
    return [
        {"date": day, "total": sum(counts.values()), **counts}
        for day, counts in days.items()
    ]
