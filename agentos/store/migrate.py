"""Schema migrations: numbered SQL files, each applied once, in order.

Each dialect has a folder under ``migrations/`` holding files named
``NNNN_name.sql``; the two folders hold the same names, so both backends reach
the same schema version. A database records what it has applied in
``schema_migrations`` (name, SHA-256 of the file, time applied).

Theory of operation. For every migration not yet recorded, the runner opens
one transaction, takes the adapter's schema lock (an advisory lock on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already excludes other writers),
checks again that no other process applied it meanwhile, runs the file and
records it. A failure rolls that transaction back, so a migration is applied
entirely or not at all, and stops the run with ``MigrationError``.

The logic lives here once; an adapter supplies the three dialect-specific
steps of ``MigrationTarget``. Statements that PostgreSQL refuses inside a
transaction (``CREATE INDEX CONCURRENTLY``) cannot be used in a migration.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, cached_property
from importlib import resources
from importlib.abc import Traversable
from typing import Protocol

from agentos import errors
from agentos.logs import log_event
from agentos.store.base import Database, Executor

logger = logging.getLogger("agentos.store")

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+$")

SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name        TEXT PRIMARY KEY,
    checksum    TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL
)
"""

FOLDERS = {"postgresql": "postgres", "sqlite": "sqlite"}
"""The folder under ``migrations/`` that holds each dialect's files."""


@dataclass(frozen=True)
class Migration:
    """One migration file: ``name`` is its file name without ``.sql``."""

    name: str
    sql: str

    @property
    def number(self) -> int:
        """The four-digit prefix that orders migrations."""
        return int(self.name[:4])

    @cached_property
    def checksum(self) -> str:
        """SHA-256 of the SQL, to notice a file edited after it was applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationTarget(Database, Protocol):
    """What the runner needs from an adapter beyond the ``Database`` itself."""

    async def has_table(self, name: str) -> bool:
        """Whether a table of this name exists."""

    async def lock_schema(self, tx: Executor) -> None:
        """Keep other migrators out until ``tx`` ends."""

    async def run_script(self, tx: Executor, sql: str) -> None:
        """Run a file of several statements inside ``tx``."""


def load_migrations(folder: Traversable) -> list[Migration]:
    """Read every ``.sql`` file of ``folder``, ordered by number.

    Raises ``MigrationError`` for a badly named file or a number used twice,
    so that a mistake in a new migration stops the start instead of being
    skipped.
    """
    migrations = [
        _read(entry) for entry in folder.iterdir() if entry.name.endswith(".sql")
    ]
    _refuse_duplicate_numbers(migrations)
    return sorted(migrations, key=lambda migration: migration.number)


@cache
def migrations_for(dialect: str) -> tuple[Migration, ...]:
    """The migrations shipped with the package for ``dialect``."""
    folder = resources.files("agentos.store").joinpath("migrations", FOLDERS[dialect])
    return tuple(load_migrations(folder))


async def pending(
    target: MigrationTarget, migrations: Sequence[Migration] | None = None
) -> list[str]:
    """Names of the migrations ``target`` has not applied, in order."""
    known = migrations_for(target.dialect) if migrations is None else migrations
    recorded = await _recorded(target)
    return [migration.name for migration in known if migration.name not in recorded]


async def apply_pending(
    target: MigrationTarget, migrations: Sequence[Migration] | None = None
) -> list[str]:
    """Apply every migration ``target`` lacks; return the names applied."""
    known = migrations_for(target.dialect) if migrations is None else migrations
    await _create_schema_table(target)
    recorded = await _recorded(target)

    applied: list[str] = []
    for migration in known:
        if migration.name in recorded:
            _warn_if_edited(migration, recorded[migration.name])
            continue
        if await _apply(target, migration):
            applied.append(migration.name)
    return applied


async def _create_schema_table(target: MigrationTarget) -> None:
    async with target.transaction() as tx:
        await target.lock_schema(tx)
        await target.run_script(tx, SCHEMA_TABLE)


async def _recorded(target: MigrationTarget) -> dict[str, str]:
    if not await target.has_table("schema_migrations"):
        return {}
    rows = await target.fetch("SELECT name, checksum FROM schema_migrations")
    return {row["name"]: row["checksum"] for row in rows}


async def _apply(target: MigrationTarget, migration: Migration) -> bool:
    """Apply one migration in its own transaction; ``False`` if already done."""
    try:
        async with target.transaction() as tx:
            await target.lock_schema(tx)
            if await _is_recorded(tx, migration.name):
                return False
            await target.run_script(tx, migration.sql)
            await _record(tx, migration)
    except errors.DependencyDown:
        raise
    except errors.AgentOSError as exc:
        raise _failed(migration, exc) from exc

    log_event(logger, "migration.applied", migration=migration.name,
              dialect=target.dialect)
    return True


async def _is_recorded(tx: Executor, name: str) -> bool:
    sql = "SELECT 1 FROM schema_migrations WHERE name = $1"
    return await tx.fetchval(sql, name) is not None


async def _record(tx: Executor, migration: Migration) -> None:
    sql = (
        "INSERT INTO schema_migrations (name, checksum, applied_at) "
        "VALUES ($1, $2, $3)"
    )
    await tx.execute(sql, migration.name, migration.checksum, datetime.now(UTC))


def _failed(migration: Migration, exc: errors.AgentOSError) -> errors.MigrationError:
    reason = exc.__cause__ or exc
    return errors.MigrationError(
        f"Migration {migration.name} failed and was rolled back: {reason}. "
        "Fix the file and start again; migrations before it stay applied."
    )


def _warn_if_edited(migration: Migration, recorded_checksum: str) -> None:
    if recorded_checksum == migration.checksum:
        return
    log_event(
        logger, "migration.edited", logging.WARNING, migration=migration.name,
        hint="the file changed after it was applied; put changes in a new migration",
    )


def _read(entry: Traversable) -> Migration:
    name = entry.name.removesuffix(".sql")
    if not MIGRATION_NAME.match(name):
        raise errors.MigrationError(
            f"Migration file {entry.name} is badly named; use NNNN_lowercase_words.sql."
        )
    return Migration(name=name, sql=entry.read_text(encoding="utf-8"))


def _refuse_duplicate_numbers(migrations: Iterable[Migration]) -> None:
    seen: dict[int, str] = {}
    for migration in migrations:
        other = seen.setdefault(migration.number, migration.name)
        if other != migration.name:
            raise errors.MigrationError(
                f"Migrations {other} and {migration.name} share the number "
                f"{migration.number:04d}; renumber one of them."
            )
