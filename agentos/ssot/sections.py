"""The sections of the SSOT document: one small collector function each.

A collector takes the ``Sources`` (stores, services, settings, clock) and
returns the section's value as JSON-able data. It may raise: the collector
runner turns a failure or a timeout into a stale or failed section, so a
collector never guards itself against the store it reads. The one
exception is the maintenance flag, which lives in the state store beside
the dashboard's database figures: when only the state store is down, it
reads ``unknown`` and the rest of the dashboard still comes. (The queue
section is the queue service's reading of the state store, so it goes
stale as a whole.)

Where a domain service offers the reading (the queue's status, the
analytics figures), the collector calls it through ``sources.services``;
the rest is read from the tables with the portable SQL the services use.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agentos import metrics
from agentos.errors import DependencyDown
from agentos.services.base import SYSTEM, CallContext
from agentos.services.records import utc_now

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
MAINTENANCE_KEY = "system:maintenance"

AGENT_FIELDS = (
    "id", "name", "agent_type", "desired_state", "observed_state", "paused",
    "concurrency", "worker_counts", "busy_workers",
)
"""What the document shows of an agent (its config and job kinds stay out)."""
SYSTEM_CALL = CallContext(principal=SYSTEM)

ALERTS_SHOWN = 20
CURRENT_JOBS_SHOWN = 100
WORKERS_SHOWN = 500
LOGS_PER_LEVEL = 10
LOG_WINDOW = timedelta(hours=24)
ANALYTICS_DAYS = 7
"""The window of ``/api/analytics/metrics`` by default."""

JOBS_TODAY = (
    # One pass over the jobs: all of each status, and those of today.
    "SELECT status, COUNT(*) AS n,"
    " SUM(CASE WHEN finished_at >= $1 THEN 1 ELSE 0 END) AS finished,"
    " SUM(CASE WHEN created_at >= $1 THEN 1 ELSE 0 END) AS created"
    " FROM jobs GROUP BY status"
)

Section = dict[str, Any]


@dataclass(frozen=True)
class Sources:
    """Everything a collector may read."""

    db: Any
    state: Any
    services: Mapping[str, Any] = field(default_factory=dict)
    registry_version: Callable[[], str | None] = lambda: None
    now: Callable[[], datetime] = utc_now


Collector = Callable[[Sources], Awaitable[Section]]


# -- dashboard ---------------------------------------------------------------


async def dashboard(sources: Sources) -> Section:
    """Job counts per status, today's throughput, active alerts, maintenance."""
    db, now = sources.db, sources.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)

    rows = await db.fetch(JOBS_TODAY, midnight)
    jobs = {status: 0 for status in JOB_STATUSES} | _counts(rows, "status")
    today = _counts(rows, "status", "finished")
    done = {status: today.get(status, 0) for status in FINISHED}
    created = sum(int(row["created"] or 0) for row in rows)
    hours = max((now - midnight).total_seconds() / 3600, 1 / 60)

    return {
        "jobs": {"by_status": jobs, "total": sum(jobs.values())},
        "today": {
            "since": midnight,
            "created": created,
            "finished": done,
            "finished_per_hour": round(sum(done.values()) / hours, 2),
        },
        "alerts": await _active_alerts(db),
        "maintenance": await _maintenance(sources.state),
    }


async def _active_alerts(db: Any) -> Section:
    rows = await db.fetch(
        "SELECT severity, COUNT(*) AS n FROM alerts WHERE status = 'active' "
        "GROUP BY severity"
    )
    latest = await db.fetch(
        "SELECT id, kind, severity, message, created_at FROM alerts "
        "WHERE status = 'active' ORDER BY created_at DESC LIMIT $1",
        ALERTS_SHOWN,
    )
    by_severity = _counts(rows, "severity")
    return {
        "active": sum(by_severity.values()),
        "by_severity": by_severity,
        "latest": latest,
    }


async def _maintenance(state: Any) -> Section:
    flag = await _state_json(state, MAINTENANCE_KEY)
    if flag is _UNKNOWN:
        return {"state": "unknown", "reason": "the state store does not answer"}
    if flag is None:
        return {"state": "off"}
    return {"state": "on", **(flag if isinstance(flag, dict) else {"value": flag})}


# -- agents and workers ------------------------------------------------------


async def agents_workers(sources: Sources) -> Section:
    """Every agent's desired and observed state, workers, and running jobs.

    The agents service judges the workers (heartbeat age, health) and
    derives each agent's observed state from them; the running jobs come
    from the table.
    """
    agents_service = sources.services["agents"]
    agents = await agents_service.overview(SYSTEM_CALL)
    health = await agents_service.health(SYSTEM_CALL)
    running = await sources.db.fetch(
        "SELECT id, kind, agent_type, agent_id, worker_id, progress, attempts, "
        "started_at FROM jobs WHERE status = 'running' ORDER BY started_at LIMIT $1",
        CURRENT_JOBS_SHOWN,
    )

    workers = health.pop("workers")
    return {
        "agents": [{key: agent[key] for key in AGENT_FIELDS} for agent in agents],
        "workers": workers[:WORKERS_SHOWN],
        "worker_health": health,
        "current_jobs": running,
        "totals": {
            "agents": len(agents),
            "workers": len(workers),
            "running_jobs": len(running),
        },
    }


# -- analytics ---------------------------------------------------------------


async def analytics(sources: Sources) -> Section:
    """The figures of ``/api/analytics/metrics`` and the service's own figures."""
    jobs = await sources.services["analytics"].metrics(window_days=ANALYTICS_DAYS)
    return {"jobs": jobs, "service": metrics.figures()}


# -- queue -------------------------------------------------------------------


async def queue(sources: Sources) -> Section:
    """Whether dispatch is paused, depth per agent type and priority, oldest job.

    Paused flag and depths are the queue service's own reading of its ready
    sets; the oldest waiting job (by enqueue time, whatever its priority)
    comes from the table.
    """
    status = await sources.services["queue"].status()
    oldest = await sources.db.fetchrow(
        "SELECT id, kind, agent_type, priority, queued_at FROM jobs "
        "WHERE status = 'queued' ORDER BY queued_at LIMIT 1"
    )
    return {**status, "oldest_waiting": _with_wait(oldest, sources.now())}


def _with_wait(job: Section | None, now: datetime) -> Section | None:
    if job is None or job.get("queued_at") is None:
        return job
    waited = (now - job["queued_at"]).total_seconds()
    return {**job, "waiting_seconds": round(waited, 1)}


# -- logs --------------------------------------------------------------------


async def logs(sources: Sources) -> Section:
    """The most recent log entries of the last day, by level, with counts."""
    since = sources.now() - LOG_WINDOW
    counts = await sources.db.fetch(
        "SELECT level, COUNT(*) AS n FROM logs WHERE ts >= $1 GROUP BY level", since
    )
    recent = await sources.db.fetch(
        "SELECT id, ts, level, logger, message, trace_id FROM ("
        " SELECT id, ts, level, logger, message, trace_id, ROW_NUMBER() OVER"
        " (PARTITION BY level ORDER BY ts DESC, id DESC) AS rn"
        " FROM logs WHERE ts >= $1) AS ranked"
        " WHERE rn <= $2 ORDER BY ts DESC, id DESC",
        since,
        LOGS_PER_LEVEL,
    )

    by_level: dict[str, list[Section]] = {}
    for row in recent:
        by_level.setdefault(row["level"], []).append(row)
    return {
        "window_hours": LOG_WINDOW.total_seconds() / 3600,
        "counts": _counts(counts, "level"),
        "recent": by_level,
    }


# -- shared helpers ------------------------------------------------------------


_UNKNOWN = object()


async def _state_json(state: Any, key: str) -> Any:
    """The JSON value at ``key``, ``None`` if absent, ``_UNKNOWN`` if unreachable."""
    try:
        raw = await state.get(key)
    except DependencyDown:
        return _UNKNOWN
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _counts(rows: list[Section], key: str, count: str = "n") -> dict[str, int]:
    return {str(row[key]): int(row[count] or 0) for row in rows}


COLLECTORS: dict[str, Collector] = {
    "dashboard": dashboard,
    "agents_workers": agents_workers,
    "analytics": analytics,
    "queue": queue,
    "logs": logs,
}
"""The collected sections in document order; ``meta`` is added by the runner."""
