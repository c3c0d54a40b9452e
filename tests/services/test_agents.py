"""The agents service on SQLite + memory and on PostgreSQL + Redis.

Every test registers agents of its own (unique names), so it never depends
on rows that another test or the seeded ``clipper`` left behind.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentos.errors import BadRequest, Conflict, NotFound
from agentos.services.agents import AgentsService
from tests.fixtures.jobs import (
    CLIP_SCHEMA,
    Stores,
    make_job,
    staff_ctx,
    user_ctx,
)

OPERATOR = staff_ctx("operator")


def agents(stores: Stores) -> AgentsService:
    service: AgentsService = stores.services["agents"]  # type: ignore[assignment]
    return service


async def new_agent(stores: Stores, **changes: Any) -> dict[str, Any]:
    """Register an agent with a unique name, type and kind."""
    suffix = uuid.uuid4().hex[:8]
    definition = {
        "name": f"agent-{suffix}",
        "agent_type": f"type-{suffix}",
        "job_kinds": [{"kind": f"test.cut{suffix}", "params_schema": CLIP_SCHEMA}],
        **changes,
    }
    return await agents(stores).register(OPERATOR, **definition)


async def stored(stores: Stores, agent_id: str) -> dict[str, Any]:
    """The agent's row as the database holds it."""
    row = await stores.db.fetchrow("SELECT * FROM agents WHERE id = $1", agent_id)
    assert row is not None
    return row


async def age_heartbeat(stores: Stores, worker_id: str, seconds: float) -> None:
    """Make a worker's last heartbeat ``seconds`` old."""
    moment = datetime.now(UTC) - timedelta(seconds=seconds)
    await stores.db.execute(
        "UPDATE workers SET last_heartbeat_at = $1 WHERE id = $2", moment, worker_id
    )


# -- definitions ---------------------------------------------------------------


async def test_a_registered_agent_is_stored_running_with_default_config(
    stores: Stores,
) -> None:
    """Registering stores the definition; it reads back by id and by name."""

    agent = await new_agent(stores, concurrency=3)

    by_name = await agents(stores).get(OPERATOR, agent_id=agent["name"])
    row = await stored(stores, agent["id"])
    assert by_name["id"] == agent["id"]
    assert row["desired_state"] == "running"
    assert row["concurrency"] == 3
    assert row["config"]["timeout_seconds"] == 3600
    assert row["job_kinds"][0]["params_schema"] == CLIP_SCHEMA


async def test_registering_a_taken_name_is_a_conflict(stores: Stores) -> None:
    """Names are unique; the second registration changes nothing."""
    agent = await new_agent(stores)

    with pytest.raises(Conflict, match="already exists"):
        await new_agent(stores, name=agent["name"], agent_type="other")

    count = await stores.db.fetchval(
        "SELECT COUNT(*) FROM agents WHERE name = $1", agent["name"]
    )
    assert count == 1


async def test_an_invalid_definition_stores_nothing(stores: Stores) -> None:
    """A params schema that is not JSON Schema is 400 and leaves no row."""
    name = f"agent-{uuid.uuid4().hex[:8]}"

    with pytest.raises(BadRequest):
        await agents(stores).register(
            OPERATOR, name=name, agent_type="t",
            job_kinds=[{"kind": "x", "params_schema": {"type": 7}}],
        )

    assert await stores.db.fetchval(
        "SELECT COUNT(*) FROM agents WHERE name = $1", name
    ) == 0


async def test_an_unknown_agent_is_not_found_and_garbage_is_a_bad_request(
    stores: Stores,
) -> None:
    """A well-formed id or name that matches nothing is 404; junk is 400."""

    with pytest.raises(NotFound):
        await agents(stores).get(OPERATOR, agent_id=str(uuid.uuid4()))
    with pytest.raises(NotFound):
        await agents(stores).get(OPERATOR, agent_id="no-such-agent")
    with pytest.raises(BadRequest):
        await agents(stores).get(OPERATOR, agent_id="'; DROP TABLE agents; --")


async def test_deregistering_needs_a_stopped_agent(stores: Stores) -> None:
    """A running agent cannot be removed; a stopped one is gone afterwards."""
    agent = await new_agent(stores)
    service = agents(stores)

    with pytest.raises(Conflict, match="stop it"):
        await service.deregister(OPERATOR, agent_id=agent["id"])
    await service.stop(OPERATOR, agent_id=agent["id"])
    await service.deregister(OPERATOR, agent_id=agent["id"])

    with pytest.raises(NotFound):
        await service.get(OPERATOR, agent_id=agent["id"])


async def test_deregistering_refuses_while_a_worker_holds_a_job(stores: Stores) -> None:
    """A stopped agent whose worker still runs a job stays registered."""
    agent = await new_agent(stores)
    service = agents(stores)
    await service.heartbeat(worker_id="w-busy", agent_id=agent["id"], host="h",
                            state="busy", current_job_id=str(uuid.uuid4()))
    await service.stop(OPERATOR, agent_id=agent["id"])

    with pytest.raises(Conflict, match="still run a job"):
        await service.deregister(OPERATOR, agent_id=agent["id"])

    assert (await stored(stores, agent["id"]))["name"] == agent["name"]


# -- desired state ---------------------------------------------------------------


async def test_commands_change_the_stored_desired_state(stores: Stores) -> None:
    """stop, start, drain and restart each leave their mark on the row."""
    agent = await new_agent(stores)
    service = agents(stores)

    await service.stop(OPERATOR, agent_id=agent["id"])
    assert (await stored(stores, agent["id"]))["desired_state"] == "stopped"
    await service.start(OPERATOR, agent_id=agent["id"])
    assert (await stored(stores, agent["id"]))["desired_state"] == "running"
    await service.drain(OPERATOR, agent_id=agent["id"])
    assert (await stored(stores, agent["id"]))["desired_state"] == "draining"
    await service.restart(OPERATOR, agent_id=agent["id"])

    row = await stored(stores, agent["id"])
    assert row["desired_state"] == "running"
    assert row["generation"] == 1


async def test_starting_a_running_agent_is_a_conflict(stores: Stores) -> None:
    """A command that would change nothing is refused and changes nothing."""
    agent = await new_agent(stores)
    before = await stored(stores, agent["id"])

    with pytest.raises(Conflict):
        await agents(stores).start(OPERATOR, agent_id=agent["id"])

    assert await stored(stores, agent["id"]) == before


async def test_of_two_simultaneous_stops_exactly_one_wins(stores: Stores) -> None:
    """Commands compare and set: the loser reads the new state and gets 409."""
    agent = await new_agent(stores)
    service = agents(stores)

    results = await asyncio.gather(
        service.stop(OPERATOR, agent_id=agent["id"]),
        service.stop(OPERATOR, agent_id=agent["id"]),
        return_exceptions=True,
    )

    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert sum(isinstance(r, dict) for r in results) == 1


async def test_pause_and_resume_flip_the_flag_once(stores: Stores) -> None:
    """Pausing twice is 409; resume clears the flag."""
    agent = await new_agent(stores)
    service = agents(stores)

    await service.pause(OPERATOR, agent_id=agent["id"])
    assert (await stored(stores, agent["id"]))["paused"] is True
    with pytest.raises(Conflict):
        await service.pause(OPERATOR, agent_id=agent["id"])
    await service.resume(OPERATOR, agent_id=agent["id"])

    assert (await stored(stores, agent["id"]))["paused"] is False


async def test_restart_all_raises_every_generation(stores: Stores) -> None:
    """Every agent, stopped ones included, gets a new generation and runs."""
    first, second = await new_agent(stores), await new_agent(stores)
    await agents(stores).stop(OPERATOR, agent_id=second["id"])

    result = await agents(stores).restart_all(OPERATOR)

    assert result["restarted"] >= 2
    for agent in (first, second):
        row = await stored(stores, agent["id"])
        assert (row["generation"], row["desired_state"]) == (1, "running")


# -- config and concurrency ------------------------------------------------------


async def test_config_is_merge_patched_validated_and_versioned(stores: Stores) -> None:
    """A patch merges, null removes, and every change is a config version."""
    agent = await new_agent(stores)
    service = agents(stores)

    await service.update_config(OPERATOR, agent_id=agent["id"],
                                config={"timeout_seconds": 60,
                                        "labels": {"zone": "a", "tier": "gpu"}})
    await service.update_config(OPERATOR, agent_id=agent["id"],
                                config={"labels": {"zone": None}})

    config = (await stored(stores, agent["id"]))["config"]
    versions = await stores.db.fetch(
        "SELECT document, actor FROM config_versions WHERE scope = $1 "
        "ORDER BY version", f"agent:{agent['id']}",
    )
    assert config["timeout_seconds"] == 60
    assert config["labels"] == {"tier": "gpu"}
    assert [v["document"]["labels"] for v in versions] == [
        {"zone": "a", "tier": "gpu"}, {"tier": "gpu"},
    ]
    assert versions[0]["actor"] == OPERATOR.principal.subject


async def test_an_invalid_config_patch_changes_nothing(stores: Stores) -> None:
    """A patch that breaks a bound is 400 with a pointer; the config stays."""
    agent = await new_agent(stores)
    before = (await stored(stores, agent["id"]))["config"]

    with pytest.raises(BadRequest) as caught:
        await agents(stores).update_config(
            OPERATOR, agent_id=agent["id"], config={"max_attempts": 99}
        )

    assert caught.value.details[0]["pointer"] == "/config/max_attempts"
    assert (await stored(stores, agent["id"]))["config"] == before


async def test_concurrency_is_bounded_by_the_fleet_settings(stores: Stores) -> None:
    """Above max_concurrency is 400 until the fleet settings allow it."""
    agent = await new_agent(stores)
    service = agents(stores)

    with pytest.raises(BadRequest):
        await service.set_concurrency(OPERATOR, agent_id=agent["id"], concurrency=100)
    with pytest.raises(BadRequest):
        await service.set_concurrency(OPERATOR, agent_id=agent["id"], concurrency=0)
    await service.update_fleet_config(OPERATOR, config={"max_concurrency": 200})
    await service.set_concurrency(OPERATOR, agent_id=agent["id"], concurrency=100)

    assert (await stored(stores, agent["id"]))["concurrency"] == 100


async def test_fleet_settings_are_versioned_and_guarded_by_base_version(
    stores: Stores,
) -> None:
    """Each change is a new version; a stale base_version is 409; an unchanged
    document makes no version."""
    service = agents(stores)
    current = await service.fleet_config(OPERATOR)

    changed = await service.update_fleet_config(
        OPERATOR, config={"heartbeat_late_seconds": 20}, comment="slow hosts",
        base_version=current["version"],
    )
    with pytest.raises(Conflict, match="not"):
        await service.update_fleet_config(
            OPERATOR, config={"heartbeat_late_seconds": 25},
            base_version=current["version"],
        )
    same = await service.update_fleet_config(
        OPERATOR, config={"heartbeat_late_seconds": 20}
    )

    latest = await service.fleet_config(OPERATOR)
    assert changed["version"] > current["version"]
    assert latest["version"] == changed["version"]
    assert latest["document"]["heartbeat_late_seconds"] == 20
    assert latest["comment"] == "slow hosts"
    assert same["changed"] is False


async def test_fleet_settings_refuse_dead_before_late(stores: Stores) -> None:
    """The merged document is validated as a whole; nothing is stored."""
    service = agents(stores)
    before = await service.fleet_config(OPERATOR)

    with pytest.raises(BadRequest):
        await service.update_fleet_config(
            OPERATOR, config={"heartbeat_dead_seconds": 5}
        )

    assert (await service.fleet_config(OPERATOR))["version"] == before["version"]


# -- workers ---------------------------------------------------------------------


async def test_heartbeats_show_workers_healthy_late_and_dead(stores: Stores) -> None:
    """Health follows the age of each worker's last heartbeat."""
    agent = await new_agent(stores)
    service = agents(stores)
    for worker in ("w-fresh", "w-late", "w-dead"):
        await service.heartbeat(worker_id=f"{worker}-{agent['id'][:8]}",
                                agent_id=agent["id"], host="h1", state="idle")
    await age_heartbeat(stores, f"w-late-{agent['id'][:8]}", 30)
    await age_heartbeat(stores, f"w-dead-{agent['id'][:8]}", 300)

    report = await service.health(OPERATOR)

    mine = {w["id"].split("-")[1]: w["health"] for w in report["workers"]
            if w["agent_id"] == agent["id"]}
    assert mine == {"fresh": "healthy", "late": "late", "dead": "dead"}
    assert report["status"] == "degraded"


async def test_a_heartbeat_answers_the_agents_directives(stores: Stores) -> None:
    """Workers learn pause, restarts and stops from their heartbeat's answer."""
    agent = await new_agent(stores)
    service = agents(stores)
    await service.pause(OPERATOR, agent_id=agent["id"])
    await service.restart(OPERATOR, agent_id=agent["id"])

    answer = await service.heartbeat(worker_id="w1", agent_id=agent["name"],
                                     host="h1", state="idle")

    assert answer["paused"] is True
    assert answer["generation"] == 1
    assert answer["desired_state"] == "running"


async def test_heartbeats_set_the_observed_state(stores: Stores) -> None:
    """An idle worker makes the agent observed running; all stopped, stopped."""
    agent = await new_agent(stores)
    service = agents(stores)

    await service.heartbeat(worker_id="w-obs", agent_id=agent["id"], host="h",
                            state="idle")
    running = (await stored(stores, agent["id"]))["observed_state"]
    await service.heartbeat(worker_id="w-obs", agent_id=agent["id"], host="h",
                            state="stopped")

    assert running == "running"
    assert (await stored(stores, agent["id"]))["observed_state"] == "stopped"


async def test_a_heartbeat_with_a_bad_state_is_refused(stores: Stores) -> None:
    """Unknown worker states and malformed worker ids are 400."""
    agent = await new_agent(stores)

    with pytest.raises(BadRequest):
        await agents(stores).heartbeat(worker_id="w", agent_id=agent["id"],
                                       host="h", state="sleeping")
    with pytest.raises(BadRequest):
        await agents(stores).heartbeat(worker_id="../w", agent_id=agent["id"],
                                       host="h", state="idle")


# -- performance and logs ------------------------------------------------------------


async def insert_finished_job(
    stores: Stores, agent: dict[str, Any], status: str, seconds: float | None
) -> None:
    """A finished job of ``agent`` that ran ``seconds`` (None: never started)."""
    finished = datetime.now(UTC) - timedelta(minutes=1)
    started = None if seconds is None else finished - timedelta(seconds=seconds)
    await stores.db.execute(
        "INSERT INTO jobs (id, owner_id, kind, params, status, agent_type, agent_id, "
        "created_at, started_at, finished_at, updated_at) "
        "VALUES ($1, $2, 'k', $3, $4, $5, $6, $7, $8, $9, $9)",
        str(uuid.uuid4()), str(uuid.uuid4()), {}, status, agent["agent_type"],
        agent["id"], finished - timedelta(hours=1), started, finished,
    )


async def test_performance_reports_rate_and_durations_per_agent(stores: Stores) -> None:
    """Finished jobs in the window give throughput, success rate, p50/p95."""
    agent = await new_agent(stores)
    for status, seconds in [("succeeded", 10), ("succeeded", 20), ("failed", 30),
                            ("cancelled", None)]:
        await insert_finished_job(stores, agent, status, seconds)

    report = await agents(stores).performance(OPERATOR, window_minutes=10)

    mine = next(a for a in report["agents"] if a["id"] == agent["id"])
    assert mine["jobs_finished"] == 4
    assert mine["success_rate"] == pytest.approx(0.6667, abs=1e-4)
    assert mine["duration_p50_seconds"] == 20.0
    assert mine["jobs_per_minute"] == 0.4


async def test_performance_leaves_out_jobs_older_than_the_window(
    stores: Stores,
) -> None:
    """A job finished before the window does not count."""
    agent = await new_agent(stores)
    await insert_finished_job(stores, agent, "succeeded", 5)

    report = await agents(stores).performance(OPERATOR, window_minutes=1)

    mine = next(a for a in report["agents"] if a["id"] == agent["id"])
    assert mine["jobs_finished"] == 0


async def insert_log(
    stores: Stores, agent_id: str, level: str, minutes_ago: int, message: str
) -> None:
    """A stored log line of ``agent_id``."""
    await stores.db.execute(
        "INSERT INTO logs (ts, level, logger, message, agent_id, fields) "
        "VALUES ($1, $2, 'agentos.worker', $3, $4, $5)",
        datetime.now(UTC) - timedelta(minutes=minutes_ago), level, message,
        agent_id, {"n": minutes_ago},
    )


async def test_agent_logs_filter_by_level_and_time_and_paginate(stores: Stores) -> None:
    """level keeps that level and above; since bounds the time; newest first."""
    agent, other = await new_agent(stores), await new_agent(stores)
    for level, minutes in [("info", 1), ("warning", 2), ("error", 3),
                           ("debug", 4), ("error", 90)]:
        await insert_log(stores, agent["id"], level, minutes, f"{level}-{minutes}")
    await insert_log(stores, other["id"], "error", 1, "not mine")
    since = datetime.now(UTC) - timedelta(minutes=60)

    rows, total = await agents(stores).logs(
        OPERATOR, agent_id=agent["id"], level="warning", since=since,
        page=1, per_page=1,
    )
    _, everything = await agents(stores).logs(OPERATOR, agent_id=agent["id"])

    assert total == 2
    assert [r["message"] for r in rows] == ["warning-2"]
    assert everything == 5


async def test_agent_logs_refuse_unknown_levels_and_reversed_ranges(
    stores: Stores,
) -> None:
    """A level name outside the list, or until before since, is 400."""
    agent = await new_agent(stores)
    now = datetime.now(UTC)

    with pytest.raises(BadRequest, match="level"):
        await agents(stores).logs(OPERATOR, agent_id=agent["id"], level="loud")
    with pytest.raises(BadRequest, match="until"):
        await agents(stores).logs(OPERATOR, agent_id=agent["id"], since=now,
                                  until=now - timedelta(hours=1))


# -- the queue -----------------------------------------------------------------------


async def test_clearing_an_agents_queue_cancels_only_its_queued_jobs(
    stores: Stores,
) -> None:
    """Jobs of the agent's type are cancelled; another type's job stays queued."""
    agent, other = await new_agent(stores), await new_agent(stores)
    owner = user_ctx()
    mine = [await make_job(stores.services, owner, kind=agent["job_kinds"][0]["kind"])
            for _ in range(2)]
    theirs = await make_job(stores.services, owner,
                            kind=other["job_kinds"][0]["kind"])

    queued = await agents(stores).queue(OPERATOR, agent_id=agent["id"])
    result = await agents(stores).clear_queue(OPERATOR, agent_id=agent["id"])

    statuses = {
        job["id"]: (await stores.services["jobs"].get(OPERATOR, job_id=job["id"]))[
            "status"]
        for job in [*mine, theirs]
    }
    assert sorted(j["id"] for j in queued["jobs"]) == sorted(j["id"] for j in mine)
    assert result["result"] == {"cancelled": 2}
    assert [statuses[j["id"]] for j in mine] == ["cancelled", "cancelled"]
    assert statuses[theirs["id"]] == "queued"
