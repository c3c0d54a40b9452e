"""Each section's collector against real rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentos import metrics
from agentos.errors import DependencyDown
from agentos.services.base import CallContext, Principal
from agentos.ssot import sections
from agentos.ssot.collect import to_json
from agentos.ssot.schema import SSOTDocument
from agentos.ssot.sections import Sources
from agentos.state import MemoryState, RedisState
from tests.ssot import seed


@pytest.fixture
async def sources(database: Any, tmp_path: Path) -> Sources:
    """Sources over the test database, a fresh in-memory state and the services."""
    return seed.sources(database, MemoryState(), tmp_path)


async def test_dashboard_counts_jobs_alerts_and_reads_maintenance(
    sources: Sources
) -> None:
    """Job counts per status, today's finished jobs, active alerts, maintenance."""
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    rows = [seed.job_row(s, now=now) for s in
            ("queued", "queued", "running", "succeeded", "failed")]
    yesterday = seed.job_row("succeeded", now=now - timedelta(days=1))
    await seed.insert_jobs(sources.db, [*rows, yesterday])
    await seed.insert_alert(sources.db, severity="critical", status="active", now=now)
    await seed.insert_alert(sources.db, severity="warning", status="resolved", now=now)
    await sources.state.set("system:maintenance", json.dumps({"reason": "upgrade"}))

    at_noon = replace(sources, now=lambda: now)

    dashboard = await sections.dashboard(at_noon)

    assert dashboard["jobs"]["by_status"] == {
        "queued": 2, "running": 1, "succeeded": 2, "failed": 1, "cancelled": 0,
    }
    today = dashboard["today"]
    assert today["finished"] == {"succeeded": 1, "failed": 1, "cancelled": 0}
    assert today["created"] == 5
    assert today["finished_per_hour"] == round(2 / 12, 2)
    assert dashboard["alerts"]["active"] == 1
    assert dashboard["alerts"]["by_severity"] == {"critical": 1}
    assert dashboard["maintenance"] == {"state": "on", "reason": "upgrade"}


async def test_maintenance_is_off_when_the_key_is_absent(sources: Sources) -> None:
    """No system:maintenance key means maintenance is off."""

    dashboard = await sections.dashboard(sources)

    assert dashboard["maintenance"] == {"state": "off"}


async def test_agents_workers_show_heartbeat_age_and_running_jobs(
    sources: Sources
) -> None:
    """Workers carry the age of their last heartbeat; running jobs are listed."""
    now = seed.utc_now()
    await seed.insert_agent(sources.db, now=now)
    await seed.insert_worker(sources.db, "w-1", last_beat=now - timedelta(seconds=30))
    await seed.insert_jobs(sources.db, [seed.job_row("running", now=now)])
    fixed = replace(sources, now=lambda: now)

    section = await sections.agents_workers(fixed)

    (worker,) = section["workers"]
    agent = next(a for a in section["agents"] if a["name"] == "ssot-test-agent")
    # Silent for 30 s: past the default 15 s of 'late', short of 60 s of 'dead'.
    assert 30 <= worker["heartbeat_age_seconds"] < 40
    assert worker["health"] == "late"
    assert section["worker_health"]["totals"]["late"] == 1
    assert agent["desired_state"] == "running"
    assert agent["worker_counts"]["late"] == 1
    assert section["totals"]["running_jobs"] == 1
    assert section["current_jobs"][0]["agent_id"] == seed.AGENT_ID


async def test_queue_depth_by_type_and_priority_and_the_oldest_job(
    sources: Sources
) -> None:
    """Queued jobs are counted per agent type and priority; the oldest is named."""
    now = seed.utc_now()
    oldest = seed.job_row("queued", now=now, priority=1, age=timedelta(hours=2))
    rows = [
        oldest,
        seed.job_row("queued", now=now, priority=9),
        seed.job_row("queued", now=now, priority=9),
        seed.job_row("queued", now=now, agent_type="encoder"),
        seed.job_row("running", now=now),
    ]
    await seed.insert_jobs(sources.db, rows)
    operator = CallContext(principal=Principal("ops-1", ("operator",)))
    await sources.services["queue"].pause(operator, reason="maintenance window")

    queue = await sections.queue(sources)

    assert queue["paused"] is True
    assert (queue["pause"]["by"], queue["pause"]["reason"]) == (
        "ops-1", "maintenance window",
    )
    assert queue["depth"] == 4
    assert queue["by_agent_type"]["clipper"] == {
        "total": 3, "by_priority": {"9": 2, "1": 1},
    }
    assert queue["by_agent_type"]["encoder"]["total"] == 1
    assert queue["oldest_waiting"]["id"] == oldest[0]
    assert queue["oldest_waiting"]["waiting_seconds"] >= 7200


async def test_analytics_shows_the_analytics_endpoint_figures(
    sources: Sources,
) -> None:
    """The jobs part is what /api/analytics/metrics answers; service figures follow."""
    now = seed.utc_now()
    rows = [seed.job_row(s, now=now) for s in ("succeeded", "succeeded", "failed")]
    await seed.insert_jobs(sources.db, rows)
    metrics.reset()
    metrics.record_request("/api/jobs", "GET", 200, 0.003)

    section = await sections.analytics(sources)

    expected = await sources.services["analytics"].metrics(window_days=7)
    assert section["jobs"]["throughput"] == expected["throughput"]
    assert section["jobs"]["throughput"]["succeeded"] == 2
    assert section["jobs"]["failure_rate"] == round(1 / 3, 4)
    assert [e["route"] for e in section["service"]["endpoints"]] == ["/api/jobs"]
    metrics.reset()


async def test_logs_keep_the_newest_entries_of_each_level(sources: Sources) -> None:
    """At most LOGS_PER_LEVEL entries per level, newest first, with counts."""
    now = seed.utc_now()
    for i in range(sections.LOGS_PER_LEVEL + 3):
        ts = now - timedelta(seconds=i)
        await seed.insert_log(sources.db, "info", f"info {i}", ts=ts)
    await seed.insert_log(sources.db, "error", "it broke", ts=now)
    await seed.insert_log(sources.db, "error", "too old", ts=now - timedelta(days=3))

    logs = await sections.logs(sources)

    assert logs["counts"] == {"info": sections.LOGS_PER_LEVEL + 3, "error": 1}
    assert len(logs["recent"]["info"]) == sections.LOGS_PER_LEVEL
    assert logs["recent"]["info"][0]["message"] == "info 0"
    assert [e["message"] for e in logs["recent"]["error"]] == ["it broke"]


async def test_every_section_matches_the_documented_schema(sources: Sources) -> None:
    """A real document with rows in every table validates against SSOTDocument."""
    now = seed.utc_now()
    await seed.insert_jobs(sources.db, [seed.job_row(s, now=now) for s in
                                        ("queued", "running", "succeeded")])
    await seed.insert_agent(sources.db, now=now)
    await seed.insert_worker(sources.db, "w-1", last_beat=now)
    await seed.insert_alert(sources.db, severity="warning", status="active", now=now)
    await seed.insert_log(sources.db, "warning", "slow disk", ts=now)

    document = {
        name: json.loads(to_json(await collector(sources)))
        for name, collector in sections.COLLECTORS.items()
    }
    document["meta"] = {
        "generated_at": "2026-01-01T00:00:00Z",
        "version": "0",
        "registry_version": None,
        "collection_ms": 1.0,
        "complete": True,
        "cache": "stored",
        "ttl_seconds": 15,
        "sections": {},
    }

    SSOTDocument.model_validate(document)


async def test_an_unreachable_state_store_leaves_the_database_parts(
    database: Any, tmp_path: Path
) -> None:
    """With the state store down the dashboard still comes; the queue cannot."""
    dead = RedisState.from_url("redis://127.0.0.1:1/0", timeout=0.2)
    sources = seed.sources(database, dead, tmp_path)

    try:
        dashboard = await sections.dashboard(sources)
        with pytest.raises(DependencyDown):
            await sections.queue(sources)
    finally:
        await dead.close()

    assert dashboard["maintenance"]["state"] == "unknown"
    assert dashboard["jobs"]["total"] == 0
