"""Rows for SSOT tests and the benchmark: jobs, agents, workers, alerts, logs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentos.config import Settings
from agentos.services.catalog import build_services
from agentos.ssot.sections import Sources

AGENT_ID = "5e5e0000-0000-4000-8000-00000000a9e7"
"""The agent that ``insert_agent`` adds."""

JOB_COLUMNS = (
    "id, owner_id, kind, params, status, priority, agent_type, agent_id, attempts, "
    "progress, created_at, queued_at, started_at, finished_at, updated_at"
)


def job_row(
    status: str,
    *,
    now: datetime,
    priority: int = 5,
    agent_type: str | None = "clipper",
    age: timedelta = timedelta(minutes=5),
) -> tuple[Any, ...]:
    """One jobs row in ``status``, created ``age`` before ``now``."""
    created = now - age
    started = created + timedelta(seconds=1) if status != "queued" else None
    finished = now - timedelta(seconds=1) if status in {"succeeded", "failed",
                                                        "cancelled"} else None
    return (
        str(uuid.uuid4()), str(uuid.uuid4()), "clip", {}, status, priority,
        agent_type, AGENT_ID if started else None, 1 if started else 0,
        1.0 if finished else 0.0, created, created, started, finished, now,
    )


async def insert_jobs(db: Any, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (from ``job_row``) in one go."""
    marks = ", ".join(f"${i}" for i in range(1, 16))
    await db.executemany(f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({marks})", rows)


async def insert_agent(db: Any, *, now: datetime) -> None:
    """The agent ``ssot-test-agent`` (id ``AGENT_ID``), wanted running, seen stopped."""
    await db.execute(
        "INSERT INTO agents (id, name, agent_type, desired_state, observed_state, "
        "paused, concurrency, config, job_kinds, created_at, updated_at) "
        "VALUES ($1, 'ssot-test-agent', 'clipper', 'running', 'stopped', $2, 2, "
        "$3, $4, $5, $5)",
        AGENT_ID, False, {}, [], now,
    )


async def insert_worker(db: Any, worker_id: str, *, last_beat: datetime) -> None:
    """A worker of ``insert_agent``'s agent, last heard of at ``last_beat``."""
    await db.execute(
        "INSERT INTO workers (id, agent_id, host, pid, state, started_at, "
        "last_heartbeat_at) VALUES ($1, $2, 'host-a', 4242, 'running', $3, $4)",
        worker_id, AGENT_ID, last_beat - timedelta(minutes=1), last_beat,
    )


async def insert_alert(db: Any, *, severity: str, status: str, now: datetime) -> None:
    """One alert row."""
    await db.execute(
        "INSERT INTO alerts (id, kind, severity, status, message, fields, created_at) "
        "VALUES ($1, 'disk', $2, $3, 'Disk almost full', $4, $5)",
        str(uuid.uuid4()), severity, status, {}, now,
    )


async def insert_log(db: Any, level: str, message: str, *, ts: datetime) -> None:
    """One stored log line."""
    await db.execute(
        "INSERT INTO logs (ts, level, logger, message, fields) "
        "VALUES ($1, $2, 'agentos.test', $3, $4)",
        ts, level, message, {},
    )


def utc_now() -> datetime:
    """Now, in UTC, to the millisecond (as both backends keep it)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def sources(db: Any, state: Any, tmp_path: Path, **extra: Any) -> Sources:
    """Collector sources over ``db`` and ``state`` with the real domain services."""
    settings = Settings(data_dir=tmp_path / "var")
    services = build_services(db, state, settings)
    return Sources(db=db, state=state, services=services, **extra)
