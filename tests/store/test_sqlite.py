"""What is particular to the SQLite adapter: placeholders, storage, one connection."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from agentos.store import SQLiteDatabase, connect_database
from agentos.store.migrate import migrations_for
from agentos.store.sqlite import split_script, store_datetime, to_sqlite


@pytest.mark.parametrize(
    ("portable", "expected"),
    [
        pytest.param("SELECT $1, $2", "SELECT ?1, ?2", id="plain"),
        pytest.param("a = $1 OR b = $1", "a = ?1 OR b = ?1", id="repeated"),
        pytest.param("LIMIT $10", "LIMIT ?10", id="two-digits"),
        pytest.param("SELECT '$1'", "SELECT '$1'", id="string-literal"),
        pytest.param("SELECT 'it''s $1', $1", "SELECT 'it''s $1', ?1", id="escaped"),
        pytest.param('SELECT "$1" FROM t', 'SELECT "$1" FROM t', id="quoted-name"),
        pytest.param("SELECT $1 -- not $2\n", "SELECT ?1 -- not $2\n", id="comment"),
        pytest.param("SELECT /* $2 */ $1", "SELECT /* $2 */ ?1", id="block-comment"),
    ],
)
def test_placeholders_are_renumbered_outside_quotes_and_comments(
    portable: str, expected: str
) -> None:
    """``$n`` becomes ``?n`` only where it is a placeholder."""
    assert to_sqlite(portable) == expected


def test_a_script_splits_into_statements_with_triggers_whole() -> None:
    """Semicolons inside a trigger body or a string do not end the statement."""
    script = (
        "-- header; with a semicolon\n"
        "CREATE TABLE t (x TEXT DEFAULT 'a;b');\n"
        "CREATE TRIGGER r BEFORE DELETE ON t BEGIN\n"
        "    SELECT RAISE(ABORT, 'no; never');\n"
        "END;\n"
        "\n-- trailing comment\n"
    )

    statements = split_script(script)

    assert len(statements) == 2
    assert statements[0].endswith("CREATE TABLE t (x TEXT DEFAULT 'a;b');")
    assert statements[1].startswith("CREATE TRIGGER r")
    assert statements[1].endswith("END;")


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(datetime(2026, 1, 1, tzinfo=UTC), id="whole-second"),
        pytest.param(datetime(2026, 1, 1, 0, 0, 0, 7, tzinfo=UTC), id="microseconds"),
        pytest.param(
            datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=5.5))),
            id="positive-offset",
        ),
        pytest.param(datetime(999, 12, 31, 23, 0, tzinfo=UTC), id="three-digit-year"),
    ],
)
def test_datetimes_are_stored_as_fixed_width_utc_text(moment: datetime) -> None:
    """Every stored time has the same width and the UTC offset, so text order is
    time order."""
    stored = store_datetime(moment)

    assert len(stored) == len("2026-01-01T00:00:00.000000+00:00")
    assert stored.endswith("+00:00")
    assert datetime.fromisoformat(stored) == moment


async def test_the_file_is_in_wal_mode_with_foreign_keys_on(tmp_path: Path) -> None:
    """The connection is configured for concurrent readers and referential checks."""
    db = SQLiteDatabase(tmp_path / "agentos.db")

    journal = await db.fetchval("PRAGMA journal_mode")
    foreign_keys = await db.fetchval("PRAGMA foreign_keys")
    await db.close()

    assert (journal, foreign_keys) == ("wal", 1)


async def test_times_are_written_to_the_file_as_utc_text(tmp_path: Path) -> None:
    """Read without the adapter, a stored time is plain ISO text in UTC."""
    path = tmp_path / "agentos.db"
    db = SQLiteDatabase(path)
    await db.migrate()
    moment = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    await db.execute(
        "INSERT INTO managers (name, state, updated_at) VALUES ($1, $2, $3)",
        "m", "idle", moment,
    )
    await db.close()

    with sqlite3.connect(path) as raw:
        stored = raw.execute("SELECT updated_at FROM managers").fetchone()[0]

    assert stored == "2026-07-01T10:00:00.000000+00:00"


async def test_the_default_file_lives_under_the_data_dir(tmp_path: Path) -> None:
    """No database_url: ``<data_dir>/agentos.db``, its folder made on first use."""
    data_dir = tmp_path / "var"
    db = connect_database(None, data_dir=data_dir)

    await db.ping()
    await db.close()

    assert (data_dir / "agentos.db").is_file()


async def test_an_in_memory_database_serves_the_whole_schema(tmp_path: Path) -> None:
    """``sqlite:///:memory:`` works, since one connection holds it for its life."""
    db = connect_database("sqlite:///:memory:", data_dir=tmp_path)

    applied = await db.migrate()
    sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
    tables = await db.fetchval(sql)
    await db.close()

    assert applied == [m.name for m in migrations_for("sqlite")]
    assert tables > 10


async def test_the_database_refuses_to_be_used_inside_its_own_open_transaction(
    tmp_path: Path,
) -> None:
    """A task that holds a transaction gets an error instead of waiting on itself."""
    db = SQLiteDatabase(tmp_path / "agentos.db")

    async with db.transaction():
        with pytest.raises(RuntimeError, match="run the statement on the transaction"):
            async with asyncio.timeout(5):  # a regression would hang, not fail
                await db.fetchval("SELECT 1")
    after = await db.fetchval("SELECT 1")
    await db.close()

    assert after == 1


async def test_two_processes_migrating_one_file_apply_each_migration_once(
    tmp_path: Path,
) -> None:
    """Two connections racing to migrate one file apply each migration exactly once.

    Which connection applies which migration depends on scheduling; what may
    never happen is a migration applied twice or skipped by both.
    """
    path = tmp_path / "agentos.db"
    first, second = SQLiteDatabase(path), SQLiteDatabase(path)

    results = await asyncio.gather(first.migrate(), second.migrate())
    recorded = await first.fetchval("SELECT count(*) FROM schema_migrations")
    await first.close()
    await second.close()

    shipped = [m.name for m in migrations_for("sqlite")]
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(shipped)
    assert recorded == len(shipped)
