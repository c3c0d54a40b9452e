"""Async executions: stored, run in the background, interrupted when orphaned."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentos.errors import Conflict
from agentos.pipeline.executions import (
    TRANSITIONS,
    ExecutionContext,
    Executions,
    Status,
    describe,
    location,
)
from agentos.services.base import CallContext, Principal
from agentos.store.base import Database

CTX = CallContext(principal=Principal("alice", ("admin",)), trace_id="t-1")


@pytest.fixture
async def executions(database: Database) -> AsyncIterator[Executions]:
    """An executions store on the test database with a fast heartbeat."""
    store = Executions(database, heartbeat_seconds=0.05, grace_seconds=30)
    await store.start()
    yield store
    await store.close()


async def _until_final(store: Executions, execution_id: str) -> dict[str, Any]:
    for _ in range(200):
        row = await store.get(execution_id)
        if row and row["status"] not in ("queued", "running"):
            return row
        await asyncio.sleep(0.01)
    raise AssertionError("the execution did not finish")


def test_final_states_lead_nowhere() -> None:
    """Succeeded, failed and interrupted executions never change again."""

    finals = [status for status, targets in TRANSITIONS.items() if not targets]

    assert set(finals) == {Status.SUCCEEDED, Status.FAILED, Status.INTERRUPTED}


async def test_work_runs_in_the_background_and_its_result_is_stored(
    executions: Executions,
) -> None:
    """Submit answers at once; the row later holds the result and full progress."""
    gate = asyncio.Event()

    async def work(ctx: ExecutionContext) -> dict[str, Any]:
        await ctx.report_progress(0.5)
        await gate.wait()
        return {"rows": 3, "by": ctx.principal.subject}

    accepted = await executions.submit("system.backup", {"x": 1}, CTX, work)
    await asyncio.sleep(0.05)
    running = await executions.get(accepted["execution_id"])
    gate.set()
    done = await _until_final(executions, accepted["execution_id"])

    assert accepted["status"] == "queued"
    assert running is not None
    assert (running["status"], running["progress"]) == ("running", 0.5)
    assert (done["status"], done["progress"]) == ("succeeded", 1.0)
    assert done["result"] == {"rows": 3, "by": "alice"}
    assert describe(done)["location"] == location(accepted["execution_id"])


async def test_a_raising_operation_fails_with_its_error(executions: Executions) -> None:
    """The error code and message of a refusal are kept; nothing else leaks."""

    async def refuses(ctx: ExecutionContext) -> None:
        raise Conflict("The backup is already running.")

    async def crashes(ctx: ExecutionContext) -> None:
        raise RuntimeError("secret internals")

    refused = await executions.submit("system.backup", {}, CTX, refuses)
    crashed = await executions.submit("system.backup", {}, CTX, crashes)

    assert (await _until_final(executions, refused["execution_id"]))["error"] == (
        "CONFLICT: The backup is already running."
    )
    crash_error = (await _until_final(executions, crashed["execution_id"]))["error"]
    assert crash_error.startswith("INTERNAL_ERROR")
    assert "secret" not in crash_error


async def test_a_bare_result_is_stored_wrapped(executions: Executions) -> None:
    """A result that is not a JSON document is kept under 'value'."""

    async def count(ctx: ExecutionContext) -> int:
        return 7

    accepted = await executions.submit("database.purge", {}, CTX, count)

    assert (await _until_final(executions, accepted["execution_id"]))["result"] == {
        "value": 7
    }


async def test_start_interrupts_executions_of_dead_processes(
    database: Database,
) -> None:
    """A running row with a stale heartbeat is interrupted; a live one is not."""
    now = datetime.now(UTC)
    await _insert(database, "dead", "running", now - timedelta(minutes=5))
    await _insert(database, "alive", "running", now)
    await _insert(database, "legacy", "queued", None)

    store = Executions(database, grace_seconds=30)
    interrupted = await store.start()
    await store.close()

    rows = await database.fetch("SELECT action, status FROM action_executions")
    assert interrupted == 2
    assert {row["action"]: row["status"] for row in rows} == {
        "dead": "interrupted",
        "alive": "running",
        "legacy": "interrupted",
    }


async def test_heartbeat_keeps_long_work_alive(database: Database) -> None:
    """Work that outlasts the grace period is not interrupted while it beats."""
    store = Executions(database, heartbeat_seconds=0.05, grace_seconds=0.2)
    await store.start()
    gate = asyncio.Event()

    async def long_work(ctx: ExecutionContext) -> str:
        await gate.wait()
        return "done"

    accepted = await store.submit("database.vacuum", {}, CTX, long_work)
    await asyncio.sleep(0.5)
    gate.set()
    done = await _until_final(store, accepted["execution_id"])
    await store.close()

    assert done["status"] == "succeeded"


async def test_stopping_interrupts_this_process_s_unfinished_work(
    database: Database,
) -> None:
    """A clean stop cancels running work and marks it interrupted."""
    store = Executions(database)
    await store.start()

    async def forever(ctx: ExecutionContext) -> None:
        await asyncio.sleep(3600)

    accepted = await store.submit("database.vacuum", {}, CTX, forever)
    await asyncio.sleep(0.05)
    await store.close()

    row = await store.get(accepted["execution_id"])
    assert row is not None
    assert row["status"] == "interrupted"


async def _insert(
    db: Database, action: str, status: str, heartbeat: datetime | None
) -> None:
    await db.execute(
        "INSERT INTO action_executions (id, action, status, actor, created_at, "
        "owner, heartbeat_at) VALUES ($1, $2, $3, 'x', $4, 'other-host', $5)",
        str(uuid.uuid4()),
        action,
        status,
        datetime.now(UTC),
        heartbeat,
    )
