"""The storage contract: every test runs on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from agentos import errors
from agentos.store import Database, Executor

T0 = datetime(2026, 1, 31, 9, 5, 0, 123456, tzinfo=UTC)
TEST_TYPE = "contract-test"
"""The agent_type of every agent these tests write; migrations may seed others."""


async def add_agent(db: Executor, name: str = "cutter-1", **columns: Any) -> str:
    """Insert an agent with sensible defaults; return its id."""
    agent_id = columns.pop("id", None) or str(uuid.uuid4())
    row = {
        "id": agent_id, "name": name, "agent_type": TEST_TYPE,
        "desired_state": "running", "observed_state": "stopped",
        "created_at": T0, "updated_at": T0, **columns,
    }
    names = ", ".join(row)
    marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    await db.execute(f"INSERT INTO agents ({names}) VALUES ({marks})", *row.values())
    return str(agent_id)


async def add_job(db: Executor, **columns: Any) -> str:
    """Insert a queued job with sensible defaults; return its id."""
    job_id = columns.pop("id", None) or str(uuid.uuid4())
    row = {
        "id": job_id, "owner_id": str(uuid.uuid4()), "kind": "clip",
        "created_at": T0, "updated_at": T0, **columns,
    }
    names = ", ".join(row)
    marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    await db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", *row.values())
    return str(job_id)


async def add_audit_record(db: Executor, seq: int) -> None:
    """Append one audit record."""
    await db.execute(
        "INSERT INTO audit_records (seq, ts, actor, roles, action, payload, decision,"
        " hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        seq, T0, "alice", ["admin"], "job.cancel", {"job_id": "j1"}, "allow",
        f"hash-{seq}",
    )


async def agent_names(db: Executor) -> list[str]:
    """The names of the agents these tests wrote, sorted."""
    rows = await db.fetch(
        "SELECT name FROM agents WHERE agent_type = $1 ORDER BY name", TEST_TYPE
    )
    return [row["name"] for row in rows]


# -- types --------------------------------------------------------------------


async def test_every_column_type_round_trips_with_the_same_python_types(
    database: Database,
) -> None:
    """uuid, aware time, JSON object and list, bool and NULL read back as written."""
    job_id = str(uuid.uuid4())
    started = datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=5)))
    params = {"clip_seconds": 30, "nested": {"ok": True, "names": ["a", "b"]}}

    await add_job(
        database, id=job_id, params=params, started_at=started, progress=0.25,
        priority=9, result=None,
    )
    agent_id = await add_agent(database, paused=True, job_kinds=["clip", "thumb"])
    job = await database.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    agent = await database.fetchrow("SELECT * FROM agents WHERE id = $1", agent_id)

    assert job is not None and agent is not None
    assert job["id"] == job_id and isinstance(job["id"], str)
    assert job["params"] == params
    assert job["started_at"] == started
    assert job["started_at"].utcoffset() == timedelta(0)
    assert job["created_at"] == T0
    assert job["progress"] == 0.25 and job["priority"] == 9
    assert job["result"] is None and job["finished_at"] is None
    assert job["status"] == "queued" and job["attempts"] == 0
    assert agent["paused"] is True and agent["job_kinds"] == ["clip", "thumb"]
    assert agent["config"] == {}


async def test_a_uuid_object_is_accepted_and_comes_back_as_a_string(
    database: Database,
) -> None:
    """Ids may be passed as ``uuid.UUID``; rows always carry them as ``str``."""
    job_id = uuid.uuid4()

    await add_job(database, id=job_id)
    found = await database.fetchval("SELECT id FROM jobs WHERE id = $1", job_id)

    assert found == str(job_id)


async def test_a_naive_datetime_is_taken_as_utc(database: Database) -> None:
    """A datetime without tzinfo is stored as that wall time in UTC."""
    job_id = await add_job(database, created_at=datetime(2026, 5, 1, 8, 30))

    sql = "SELECT created_at FROM jobs WHERE id = $1"
    created = await database.fetchval(sql, job_id)

    assert created == datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


async def test_times_sort_and_compare_as_instants_whatever_their_offset(
    database: Database,
) -> None:
    """ORDER BY and comparisons on times follow the instant, not the written text."""
    plus_two = timezone(timedelta(hours=2))
    minus_five = timezone(timedelta(hours=-5))
    times = {
        "b": datetime(2026, 1, 1, 12, 0, tzinfo=plus_two),  # 10:00 UTC
        "a": datetime(2026, 1, 1, 9, 59, 59, 999999, tzinfo=UTC),
        "c": datetime(2026, 1, 1, 6, 0, tzinfo=minus_five),  # 11:00 UTC
    }
    for kind, created in times.items():
        await add_job(database, kind=kind, created_at=created)

    ordered = await database.fetch("SELECT kind FROM jobs ORDER BY created_at")
    later = await database.fetch(
        "SELECT kind FROM jobs WHERE created_at > $1 ORDER BY kind",
        datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
    )

    assert [row["kind"] for row in ordered] == ["a", "b", "c"]
    assert [row["kind"] for row in later] == ["c"]


async def test_placeholders_may_repeat_and_quoted_dollars_are_left_alone(
    database: Database,
) -> None:
    """``$1`` used twice binds the same value; ``'$2'`` inside a string is text."""
    await add_agent(database, name="x", desired_state="x")
    await add_agent(database, name="y", desired_state="z")

    names = await database.fetch(
        "SELECT name, '$2 each' AS price FROM agents"
        " WHERE name = $1 OR desired_state = $1",
        "x",
    )

    assert names == [{"name": "x", "price": "$2 each"}]


# -- statements ---------------------------------------------------------------


async def test_returning_gives_back_the_written_row(database: Database) -> None:
    """INSERT ... RETURNING yields the stored values, defaults included."""
    row = await database.fetchrow(
        "INSERT INTO alerts (id, kind, severity, message, created_at)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id, status, fields, created_at",
        str(uuid.uuid4()), "disk", "warning", "disk 91% full", T0,
    )

    assert row is not None
    assert row["status"] == "active" and row["fields"] == {}
    assert row["created_at"] == T0


async def test_execute_reports_how_many_rows_changed(database: Database) -> None:
    """UPDATE and DELETE return their row counts; a miss returns 0."""
    for name in ("a", "b", "c"):
        await add_agent(database, name=name)

    updated = await database.execute(
        "UPDATE agents SET paused = $1 WHERE agent_type = $2", True, TEST_TYPE
    )
    deleted = await database.execute("DELETE FROM agents WHERE name = $1", "a")
    missed = await database.execute("DELETE FROM agents WHERE name = $1", "zzz")

    assert (updated, deleted, missed) == (3, 1, 0)


async def test_on_conflict_upsert_inserts_once_then_updates(database: Database) -> None:
    """INSERT ... ON CONFLICT DO UPDATE keeps one row and applies the update."""
    upsert = (
        "INSERT INTO managers (name, state, runs, updated_at) VALUES ($1, $2, 1, $3)"
        " ON CONFLICT (name) DO UPDATE SET runs = managers.runs + 1,"
        " state = EXCLUDED.state RETURNING runs"
    )

    first = await database.fetchval(upsert, "retention", "idle", T0)
    second = await database.fetchval(upsert, "retention", "running", T0)
    rows = await database.fetch("SELECT name, state, runs FROM managers")

    assert (first, second) == (1, 2)
    assert rows == [{"name": "retention", "state": "running", "runs": 2}]


async def test_fetchrow_and_fetchval_give_none_when_nothing_matches(
    database: Database,
) -> None:
    """A query without rows answers ``None``, not an error."""
    sql = "SELECT name FROM agents WHERE name = $1"

    assert await database.fetchrow(sql, "ghost") is None
    assert await database.fetchval(sql, "ghost") is None
    assert await database.fetch(sql, "ghost") == []


async def test_executemany_writes_all_rows_or_none(database: Database) -> None:
    """A batch lands whole; a batch with one bad row leaves nothing behind."""
    sql = "INSERT INTO managers (name, state, updated_at) VALUES ($1, $2, $3)"

    await database.executemany(sql, [("a", "idle", T0), ("b", "idle", T0)])
    with pytest.raises(errors.Conflict):
        await database.executemany(sql, [("c", "idle", T0), ("a", "idle", T0)])
    names = await database.fetch("SELECT name FROM managers ORDER BY name")

    assert [row["name"] for row in names] == ["a", "b"]


# -- transactions -------------------------------------------------------------


async def test_a_transaction_commits_every_statement(database: Database) -> None:
    """Statements inside a transaction that ends normally are all kept."""
    async with database.transaction() as tx:
        await add_agent(tx, name="a")
        await add_agent(tx, name="b")
        seen_inside = await agent_names(tx)

    assert seen_inside == ["a", "b"]
    assert await agent_names(database) == ["a", "b"]


async def test_an_exception_inside_a_transaction_leaves_nothing(
    database: Database,
) -> None:
    """Raising out of the block rolls back what it wrote, and the error surfaces."""
    with pytest.raises(LookupError):
        async with database.transaction() as tx:
            await add_agent(tx, name="a")
            raise LookupError("caller gave up")

    assert await agent_names(database) == []


async def test_a_failed_statement_rolls_back_the_statements_before_it(
    database: Database,
) -> None:
    """A conflict half-way through a transaction undoes the whole transaction."""
    await add_agent(database, name="taken")

    with pytest.raises(errors.Conflict):
        async with database.transaction() as tx:
            await add_agent(tx, name="fresh")
            await add_agent(tx, name="taken")

    assert await agent_names(database) == ["taken"]


async def test_other_coroutines_never_join_an_open_transaction(
    database: Database,
) -> None:
    """A write and a read from elsewhere neither see nor share a transaction's fate."""
    started = asyncio.Event()

    async def outsider() -> list[str]:
        await started.wait()
        await add_agent(database, name="outsider")
        return await agent_names(database)

    task = asyncio.create_task(outsider())
    with pytest.raises(LookupError):
        async with database.transaction() as tx:
            await add_agent(tx, name="insider")
            started.set()
            await asyncio.sleep(0.05)
            raise LookupError("roll back")
    seen_by_outsider = await task

    assert "insider" not in seen_by_outsider
    assert await agent_names(database) == ["outsider"]


async def test_a_transaction_refuses_statements_after_it_ended(
    database: Database,
) -> None:
    """The executor of a finished transaction cannot be used by mistake."""
    async with database.transaction() as tx:
        await add_agent(tx, name="a")

    with pytest.raises(RuntimeError, match="ended"):
        await tx.fetch("SELECT name FROM agents")


# -- errors -------------------------------------------------------------------


async def test_a_unique_violation_is_a_conflict(database: Database) -> None:
    """A second user with the same username is refused with ``Conflict``."""
    sql = (
        "INSERT INTO users (id, username, created_at, updated_at) "
        "VALUES ($1, $2, $3, $3)"
    )
    await database.execute(sql, str(uuid.uuid4()), "alice", T0)

    with pytest.raises(errors.Conflict) as caught:
        await database.execute(sql, str(uuid.uuid4()), "alice", T0)

    assert caught.value.status == 409


async def test_a_foreign_key_violation_is_a_conflict(database: Database) -> None:
    """A clip of a job that does not exist is refused with ``Conflict``."""
    with pytest.raises(errors.Conflict):
        await database.execute(
            "INSERT INTO clips (id, job_id, owner_id, path, start_ms, end_ms,"
            " size_bytes, sha256, created_at) VALUES ($1, $2, $3, $4, 0, 1000, 10,"
            " $5, $6)",
            str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), "c.mp4", "ab", T0,
        )


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param({"priority": 10}, id="priority-above-9"),
        pytest.param({"status": "paused"}, id="unknown-status"),
        pytest.param({"progress": 1.5}, id="progress-above-1"),
        pytest.param({"kind": None}, id="missing-kind"),
    ],
)
async def test_a_value_outside_a_column_rule_is_a_bad_request(
    database: Database, columns: dict[str, Any]
) -> None:
    """CHECK and NOT NULL violations are answered as the caller's bad value."""
    with pytest.raises(errors.BadRequest):
        await add_job(database, **columns)

    assert await database.fetchval("SELECT count(*) FROM jobs") == 0


async def test_a_malformed_statement_is_an_internal_error_caused_by_the_driver(
    database: Database,
) -> None:
    """A defect in SQL becomes a 500 whose cause keeps the driver's own error."""
    with pytest.raises(errors.AgentOSError) as caught:
        await database.fetch("SELEC name FROM agents")

    assert type(caught.value) is errors.AgentOSError
    assert caught.value.status == 500
    assert "SELEC" in str(caught.value.__cause__)


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("UPDATE audit_records SET actor = 'mallory'", id="update"),
        pytest.param("DELETE FROM audit_records", id="delete"),
    ],
)
async def test_the_database_refuses_to_change_an_audit_record(
    database: Database, statement: str
) -> None:
    """audit_records is append-only in the database itself, not only in code."""
    await add_audit_record(database, seq=1)

    with pytest.raises(errors.Conflict, match="append-only"):
        await database.execute(statement)
    row = await database.fetchrow("SELECT seq, actor, roles FROM audit_records")

    assert row == {"seq": 1, "actor": "alice", "roles": ["admin"]}


async def test_a_closed_database_refuses_statements_as_dependency_down(
    database: Database,
) -> None:
    """After ``close`` a statement fails with 503, not with a driver error."""
    await database.close()

    with pytest.raises(errors.DependencyDown):
        await database.fetchval("SELECT 1")


# -- migrations and concurrency ------------------------------------------------


async def test_migrating_again_applies_nothing(database: Database) -> None:
    """A migrated database has nothing pending, and a second run is a no-op."""
    applied = await database.migrate()

    assert applied == []
    assert await database.pending_migrations() == []
    assert await database.fetchval(
        "SELECT count(*) FROM schema_migrations WHERE name = $1", "0001_init"
    ) == 1


async def test_fifty_concurrent_inserts_all_land(database: Database) -> None:
    """Concurrent writers from one process lose nothing."""
    names = [f"agent-{n:02d}" for n in range(50)]

    await asyncio.gather(*(add_agent(database, name=name) for name in names))

    assert await agent_names(database) == names


async def test_concurrent_transactions_each_apply_their_increment(
    database: Database,
) -> None:
    """Fifty transactions incrementing one counter end at fifty."""
    await database.execute(
        "INSERT INTO managers (name, state, updated_at) VALUES ($1, $2, $3)",
        "counter", "idle", T0,
    )

    async def increment() -> None:
        async with database.transaction() as tx:
            await tx.execute("UPDATE managers SET runs = runs + 1 WHERE name = $1",
                             "counter")

    await asyncio.gather(*(increment() for _ in range(50)))

    assert await database.fetchval("SELECT runs FROM managers") == 50


async def test_ping_answers_with_a_latency_in_milliseconds(database: Database) -> None:
    """``ping`` reaches the database and reports a non-negative round trip."""
    latency = await database.ping()

    assert isinstance(latency, float) and latency >= 0
