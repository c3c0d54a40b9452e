"""What is particular to PostgreSQL: timeouts, lost connections, TRUNCATE."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from agentos import errors
from agentos.store import PostgresDatabase, connect_database

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 31, 9, 5, tzinfo=UTC)


@pytest_asyncio.fixture
async def pg(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    """The adapter on this session's emptied PostgreSQL database."""
    db = PostgresDatabase(postgres_url, pool_size=3, command_timeout=0.5)
    yield db
    await db.close()


async def test_truncating_the_audit_table_is_refused(pg: PostgresDatabase) -> None:
    """The statement trigger stops TRUNCATE, which row triggers would not see."""
    await pg.execute(
        "INSERT INTO audit_records (seq, ts, actor, action, decision, hash)"
        " VALUES (1, $1, 'alice', 'job.cancel', 'allow', 'h1')",
        T0,
    )

    with pytest.raises(errors.Conflict, match="append-only"):
        await pg.execute("TRUNCATE audit_records")

    assert await pg.fetchval("SELECT count(*) FROM audit_records") == 1


async def test_a_statement_past_the_command_timeout_is_dependency_down(
    pg: PostgresDatabase,
) -> None:
    """A statement that outlives the timeout is abandoned; the pool still serves."""
    with pytest.raises(errors.DependencyDown):
        await pg.fetchval("SELECT pg_sleep(5)")

    assert await pg.fetchval("SELECT 41 + 1") == 42


async def test_a_connection_lost_mid_transaction_is_dependency_down_then_recovers(
    pg: PostgresDatabase, postgres_url: str
) -> None:
    """The server ending a session fails that transaction cleanly, and only it."""
    killer = await asyncpg.connect(postgres_url)
    try:
        with pytest.raises(errors.DependencyDown):
            async with pg.transaction() as tx:
                pid = await tx.fetchval("SELECT pg_backend_pid()")
                await killer.execute("SELECT pg_terminate_backend($1)", pid)
                await tx.fetchval("SELECT 1")
    finally:
        await killer.close()

    assert await pg.fetchval("SELECT 1") == 1


async def test_a_malformed_uuid_is_a_bad_request(pg: PostgresDatabase) -> None:
    """An id that is not a UUID is the caller's mistake, answered with 400."""
    with pytest.raises(errors.BadRequest):
        await pg.fetchrow("SELECT * FROM jobs WHERE id = $1", "not-a-uuid")


async def test_json_columns_accept_nested_values_and_unicode(
    pg: PostgresDatabase,
) -> None:
    """JSONB goes in as a dict and comes out equal, non-ASCII text included."""
    document = {"greeting": "grüß dich", "levels": [1, [2, 3]], "none": None}

    await pg.execute(
        "INSERT INTO config_versions (version, scope, document, actor, created_at)"
        " VALUES (1, 'global', $1, 'alice', $2)",
        document, T0,
    )

    assert await pg.fetchval("SELECT document FROM config_versions") == document


async def test_a_url_that_asyncpg_cannot_parse_is_a_config_error(
    tmp_path: Path,
) -> None:
    """A malformed PostgreSQL URL stops the start instead of looking like an outage."""
    db = connect_database(
        f"postgresql://postgres@127.0.0.1:5432/test?sslmode=sometimes-{uuid.uuid4()}",
        data_dir=tmp_path,
    )

    with pytest.raises(errors.ConfigError, match="database_url"):
        await db.ping()
    await db.close()
