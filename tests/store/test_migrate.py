"""The migration runner: file rules, order, atomicity and concurrent migrators."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from agentos import errors
from agentos.store import Database, connect_database, migrate
from agentos.store.migrate import (
    Migration,
    MigrationTarget,
    load_migrations,
    migrations_for,
)
from tests.fixtures.database import (
    create_database,
    drop_database,
    run_on_thread,
    with_database,
)
from tests.fixtures.services import POSTGRES_URL, require_service

MIGRATIONS = Path(migrate.__file__).parent / "migrations"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database that has never been migrated, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    parts = urlsplit(POSTGRES_URL)
    require_service("PostgreSQL", parts.hostname or "127.0.0.1", parts.port or 5432)
    name = f"agentos_test_fresh_{secrets.token_hex(6)}"
    run_on_thread(create_database(POSTGRES_URL, name))
    try:
        yield with_database(POSTGRES_URL, name)
    finally:
        run_on_thread(drop_database(POSTGRES_URL, name))


@pytest_asyncio.fixture
async def fresh(fresh_url: str, tmp_path: Path) -> AsyncIterator[MigrationTarget]:
    """A connected database that has never been migrated."""
    db = connect_database(fresh_url, data_dir=tmp_path, pool_size=3)
    yield cast(MigrationTarget, db)
    await db.close()


def write(folder: Path, files: dict[str, str]) -> Path:
    """Create ``folder`` holding ``files`` (name -> SQL)."""
    folder.mkdir()
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


# -- the files ----------------------------------------------------------------


def test_both_dialects_ship_the_same_migrations() -> None:
    """Every migration exists for SQLite and PostgreSQL, so the schemas agree."""
    postgres = [migration.name for migration in migrations_for("postgresql")]
    sqlite = [migration.name for migration in migrations_for("sqlite")]

    assert postgres == sqlite
    assert postgres[0] == "0001_init"


def test_migrations_are_ordered_by_number_not_by_listing(tmp_path: Path) -> None:
    """Files are applied in numeric order, whatever order the folder lists them."""
    folder = write(tmp_path / "m", {
        "0010_later.sql": "SELECT 1;", "0002_second.sql": "SELECT 1;",
        "0001_first.sql": "SELECT 1;", "README.md": "not a migration",
    })

    names = [migration.name for migration in load_migrations(folder)]

    assert names == ["0001_first", "0002_second", "0010_later"]


@pytest.mark.parametrize(
    ("files", "complaint"),
    [
        pytest.param({"1_init.sql": ""}, "badly named", id="short-number"),
        pytest.param({"0001-init.sql": ""}, "badly named", id="dash"),
        pytest.param({"0001_Init.sql": ""}, "badly named", id="capitals"),
        pytest.param(
            {"0010_jobs.sql": "", "0010_alerts.sql": ""}, "share the number",
            id="same-number",
        ),
    ],
)
def test_a_mistake_in_the_migration_files_stops_the_load(
    tmp_path: Path, files: dict[str, str], complaint: str
) -> None:
    """A badly named or doubly numbered file is refused, not silently skipped."""
    folder = write(tmp_path / "m", files)

    with pytest.raises(errors.MigrationError, match=complaint):
        load_migrations(folder)


# -- applying -----------------------------------------------------------------


async def test_a_fresh_database_applies_every_migration_in_order(
    fresh: MigrationTarget,
) -> None:
    """Everything is pending at first, applied in order, then nothing is pending."""
    shipped = [migration.name for migration in migrations_for(fresh.dialect)]

    before = await fresh.pending_migrations()
    applied = await fresh.migrate()
    after = await fresh.pending_migrations()
    recorded = await fresh.fetch("SELECT name FROM schema_migrations ORDER BY name")

    assert before == shipped and applied == shipped and after == []
    assert [row["name"] for row in recorded] == shipped


async def test_a_failing_migration_is_rolled_back_whole_and_named(
    fresh: MigrationTarget,
) -> None:
    """A migration that breaks half-way leaves none of its changes and no record."""
    broken = Migration(
        "0999_broken",
        "CREATE TABLE half_done (id TEXT PRIMARY KEY);\n"
        "INSERT INTO no_such_table VALUES (1);\n",
    )
    shipped = list(migrations_for(fresh.dialect))

    with pytest.raises(errors.MigrationError, match="0999_broken") as caught:
        await migrate.apply_pending(fresh, [*shipped, broken])

    assert "no_such_table" in str(caught.value)
    assert not await fresh.has_table("half_done")
    assert await migrate.pending(fresh, [*shipped, broken]) == ["0999_broken"]


async def test_a_new_migration_is_applied_after_the_ones_already_there(
    fresh: MigrationTarget,
) -> None:
    """Adding a file later applies just that file on the next run."""
    await fresh.migrate()
    extra = Migration("0999_extra", "CREATE TABLE extra_things (id TEXT PRIMARY KEY);")
    known = [*migrations_for(fresh.dialect), extra]

    applied = await migrate.apply_pending(fresh, known)

    assert applied == ["0999_extra"]
    assert await fresh.fetchval("SELECT count(*) FROM extra_things") == 0


async def test_concurrent_migrators_apply_each_migration_once(
    fresh_url: str, tmp_path: Path
) -> None:
    """Workers starting together all migrate; each file is applied by one of them."""
    workers = [connect_database(fresh_url, data_dir=tmp_path, pool_size=2)
               for _ in range(3)]

    results = await asyncio.gather(*(db.migrate() for db in workers))
    recorded = await workers[0].fetchval("SELECT count(*) FROM schema_migrations")
    for db in workers:
        await db.close()

    shipped = [m.name for m in migrations_for(workers[0].dialect)]
    assert sorted(name for result in results for name in result) == sorted(shipped)
    assert recorded == len(shipped)


async def test_an_applied_migration_edited_afterwards_is_reported(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A file changed after it ran is not re-run; a warning says to add a new one."""
    edited = Migration("0001_init", "-- someone changed this file\n")

    with caplog.at_level(logging.WARNING, logger="agentos.store"):
        applied = await migrate.apply_pending(cast(MigrationTarget, database), [edited])

    assert applied == []
    assert [r.getMessage() for r in caplog.records] == ["migration.edited"]


# -- 0050_owner_subjects --------------------------------------------------------

JOB_ID = "0b5e7c1a-1111-4c1e-9a57-2b1f0c6d7e8a"
OWNER = "3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a"
STAMP = "2026-12-01T09:00:00+00:00"


async def seed_uuid_owners(db: MigrationTarget) -> None:
    """A job, its clip and an upload owned by a user id, as before 0050."""
    stamp = datetime.fromisoformat(STAMP)
    await db.execute(
        "INSERT INTO jobs (id, owner_id, kind, params, created_at, updated_at) "
        "VALUES ($1, $2, 'clip.cut', $3, $4, $4)", JOB_ID, OWNER, {}, stamp,
    )
    await db.execute(
        "INSERT INTO clips (id, job_id, owner_id, path, start_ms, end_ms, "
        "size_bytes, sha256, created_at) VALUES ($1, $2, $3, 'c/1.mp4', 0, 10, 5, "
        "'ab', $4)", "0b5e7c1a-2222-4c1e-9a57-2b1f0c6d7e8a", JOB_ID, OWNER, stamp,
    )
    await db.execute(
        "INSERT INTO uploads (id, owner_id, filename, size_bytes, chunk_size, "
        "total_chunks, created_at, updated_at) VALUES ($1, $2, 'a.mp4', 5, 5, 1, "
        "$3, $3)", "0b5e7c1a-3333-4c1e-9a57-2b1f0c6d7e8a", OWNER, stamp,
    )


async def test_owner_subjects_keep_existing_owners_and_take_any_text(
    fresh: MigrationTarget,
) -> None:
    """After 0050 old rows keep their owners and a non-UUID subject can own rows."""
    shipped = list(migrations_for(fresh.dialect))
    before = [m for m in shipped if m.number < 50]
    await migrate.apply_pending(fresh, before)
    await seed_uuid_owners(fresh)

    applied = await migrate.apply_pending(fresh, shipped)
    await fresh.execute(
        "INSERT INTO jobs (id, owner_id, kind, params, created_at, updated_at) "
        "VALUES ($1, '1234', 'clip.cut', $2, $3, $3)",
        "0b5e7c1a-4444-4c1e-9a57-2b1f0c6d7e8a", {}, datetime.fromisoformat(STAMP),
    )

    assert "0050_owner_subjects" in applied
    for table in ("jobs", "clips", "uploads"):
        owners = await fresh.fetch(f"SELECT owner_id FROM {table} WHERE owner_id = $1",
                                   OWNER)
        assert [row["owner_id"] for row in owners] == [OWNER], table
    numeric = await fresh.fetchval("SELECT owner_id FROM jobs WHERE owner_id = '1234'")
    assert numeric == "1234"
    clip_job = await fresh.fetchval("SELECT job_id FROM clips")
    assert clip_job == JOB_ID


@pytest.mark.parametrize("owner", [
    pytest.param("", id="empty"),
    pytest.param("x" * 256, id="too-long"),
])
async def test_an_owner_must_be_1_to_255_characters(
    database: Database, owner: str
) -> None:
    """The owner column refuses an empty subject and one over 255 characters."""
    with pytest.raises(errors.BadRequest, match="owner_id"):
        await database.execute(
            "INSERT INTO uploads (id, owner_id, filename, size_bytes, chunk_size, "
            "total_chunks, created_at, updated_at) VALUES ($1, $2, 'a', 1, 1, 1, "
            "$3, $3)", "0b5e7c1a-5555-4c1e-9a57-2b1f0c6d7e8a", owner,
            datetime.fromisoformat(STAMP),
        )
