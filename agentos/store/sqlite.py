"""The embedded store: one SQLite file, one connection, through aiosqlite.

Theory of operation. One connection serves every coroutine of the process,
and aiosqlite runs its calls in order on one thread. The connection is in
autocommit mode, so a lone statement commits by itself. A transaction is
``BEGIN IMMEDIATE`` ... ``COMMIT`` on that same connection and holds
``_lock`` from start to end; every statement of another coroutine waits for
the lock, so nothing interleaves with an open transaction. ``IMMEDIATE``
takes SQLite's write lock up front, so a transaction never fails half-way for
want of it (another process on the same file waits up to ``busy_timeout``).

Types. Columns declared TIMESTAMPTZ, JSONB and BOOLEAN are converted on the
way out by sqlite3 converters keyed on the declared type, and Python values
on the way in by sqlite3 adapters, so rows carry the same Python types as on
PostgreSQL. UUID columns hold text and need no converter. Times are stored as
fixed-width UTC ISO text (``2026-01-31T09:05:00.000000+00:00``), which sorts
and compares in time order; a naive datetime is taken as UTC, as asyncpg
takes it.

Known shortcoming: SQLite knows a declared type only for a column read as it
is. An expression over such a column (``max(created_at)``,
``coalesce(result, ...)``) comes back as stored text on SQLite and typed on
PostgreSQL; a query that needs such a value typed selects the column itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiosqlite

from agentos import errors
from agentos.logs import log_event
from agentos.store import migrate
from agentos.store.base import Executor, Row

logger = logging.getLogger("agentos.store")

PRAGMA_ATTEMPTS = 100
PRAGMAS = (
    # First, so that every later step (switching to WAL included) waits for a
    # lock held by another connection instead of failing at once.
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    # FULL syncs the WAL at every commit: an audit record is on disk before
    # the reply that depends on it.
    "PRAGMA synchronous = FULL",
)

# Either something to leave alone (a quoted string, a quoted name, a comment)
# or a placeholder, whose number is group 1.
_TOKENS = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$(\d+)", re.DOTALL
)

# Failures of the file or the disk rather than of the statement.
_UNAVAILABLE = {
    "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR",
    "SQLITE_READONLY", "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_PERM",
    "SQLITE_PROTOCOL", "SQLITE_NOMEM",
}
_BAD_VALUE = {
    "SQLITE_CONSTRAINT_CHECK", "SQLITE_CONSTRAINT_NOTNULL",
    "SQLITE_CONSTRAINT_DATATYPE", "SQLITE_MISMATCH", "SQLITE_TOOBIG",
}


def store_datetime(value: datetime) -> str:
    """The fixed-width UTC text a datetime is stored as."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _store_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _register_types() -> None:
    sqlite3.register_adapter(datetime, store_datetime)
    sqlite3.register_adapter(uuid.UUID, str)
    for json_type in (dict, list, tuple):
        sqlite3.register_adapter(json_type, _store_json)
    sqlite3.register_converter(
        "TIMESTAMPTZ", lambda raw: datetime.fromisoformat(raw.decode())
    )
    sqlite3.register_converter("JSONB", json.loads)
    sqlite3.register_converter("BOOLEAN", lambda raw: int(raw) != 0)


_register_types()


@lru_cache(maxsize=1024)
def to_sqlite(sql: str) -> str:
    """Rewrite ``$n`` placeholders as SQLite's ``?n``, leaving quoted text alone."""
    return _TOKENS.sub(_renumber, sql)


def _renumber(match: re.Match[str]) -> str:
    number = match.group(1)
    return match.group(0) if number is None else f"?{number}"


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    names = (column[0] for column in cursor.description)
    return dict(zip(names, row, strict=True))


def split_script(sql: str) -> list[str]:
    """Cut a file of statements into single statements (triggers stay whole)."""
    statements: list[str] = []
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if not sqlite3.complete_statement(pending):
            continue
        if _TOKENS.sub(_drop_comment, pending).strip(" \t\r\n;"):
            statements.append(pending.strip())
        pending = ""
    return statements


def _drop_comment(match: re.Match[str]) -> str:
    text = match.group(0)
    return "" if text.startswith(("--", "/*")) else text


async def _run_pragma(connection: aiosqlite.Connection, pragma: str) -> None:
    """Run ``pragma``, retrying while another connection holds the file.

    Switching to WAL needs the file to itself and SQLite may answer "database
    is locked" at once, without waiting out ``busy_timeout``, while a second
    process is migrating; a fresh file is only contended for moments.
    """
    for attempt in range(PRAGMA_ATTEMPTS):
        try:
            await connection.execute(pragma)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == PRAGMA_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.05)


class SQLiteDatabase:
    """A ``Database`` on one SQLite file, opened on first use."""

    dialect = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._connection: aiosqlite.Connection | None = None
        self._closed = False
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    # -- the Executor interface, each statement alone --------------------

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""
        async with self._exclusive():
            return await self._execute(sql, args)

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement for each tuple of arguments, in one transaction."""
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run a query; return every row."""
        async with self._exclusive():
            return await self._fetch(sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Run a query; return the first row or ``None``."""
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Run a query; return the first column of the first row, or ``None``."""
        row = await self.fetchrow(sql, *args)
        return next(iter(row.values())) if row else None

    # -- transactions and lifecycle ---------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        """Hold the connection for one ``BEGIN IMMEDIATE`` ... ``COMMIT``."""
        async with self._exclusive():
            self._owner = asyncio.current_task()
            tx = _Transaction(self)
            try:
                await self._execute("BEGIN IMMEDIATE", ())
                try:
                    yield tx
                    await self._execute("COMMIT", ())
                except BaseException:
                    await self._rollback_quietly()
                    raise
            finally:
                tx.closed = True
                self._owner = None

    async def ping(self) -> float:
        """Round-trip ``SELECT 1``; return its latency in milliseconds."""
        started = time.perf_counter()
        await self.fetchval("SELECT 1")
        return (time.perf_counter() - started) * 1000

    async def migrate(self) -> list[str]:
        """Apply pending migrations; return the names of those applied."""
        return await migrate.apply_pending(self)

    async def pending_migrations(self) -> list[str]:
        """Return the names of the migrations not applied yet."""
        return await migrate.pending(self)

    async def close(self) -> None:
        """Close the connection once any open transaction has ended."""
        async with self._lock:
            self._closed = True
            if self._connection is not None:
                await self._connection.close()
                self._connection = None

    # -- what the migration runner needs ----------------------------------

    async def has_table(self, name: str) -> bool:
        """Whether a table of this name exists."""
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1"
        return await self.fetchval(sql, name) is not None

    async def lock_schema(self, tx: Executor) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already keeps other writers out."""

    async def run_script(self, tx: Executor, sql: str) -> None:
        """Run each statement of ``sql`` in ``tx``."""
        for statement in split_script(sql):
            await tx.execute(statement)

    # -- internals -----------------------------------------------------------

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError(
                "This task has a transaction open on the SQLite database; run the "
                "statement on the transaction, or it would wait for itself forever."
            )
        async with self._lock:
            yield

    async def _connect(self) -> aiosqlite.Connection:
        if self._closed:
            raise errors.DependencyDown(f"The SQLite database {self.path} is closed.")
        if self._connection is None:
            self._connection = await self._open()
        return self._connection

    async def _open(self) -> aiosqlite.Connection:
        with self._translating():
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            connection = await aiosqlite.connect(
                self.path, isolation_level=None, detect_types=sqlite3.PARSE_DECLTYPES
            )
        try:
            with self._translating():
                connection.row_factory = _dict_row  # type: ignore[assignment]
                for pragma in PRAGMAS:
                    await _run_pragma(connection, pragma)
        except BaseException:
            await connection.close()
            raise
        log_event(logger, "store.opened", dialect=self.dialect, path=self.path)
        return connection

    async def _execute(self, sql: str, args: tuple[Any, ...]) -> int:
        connection = await self._connect()
        with self._translating():
            async with connection.execute(to_sqlite(sql), args) as cursor:
                return max(cursor.rowcount, 0)

    async def _executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        connection = await self._connect()
        with self._translating():
            await connection.executemany(to_sqlite(sql), rows)

    async def _fetch(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        connection = await self._connect()
        with self._translating():
            rows = await connection.execute_fetchall(to_sqlite(sql), args)
        return list(rows)  # type: ignore[arg-type]  # the row factory makes dicts

    async def _rollback_quietly(self) -> None:
        # The transaction may already be gone (the COMMIT failed after SQLite
        # rolled back, or the file went away); the original error matters more.
        with suppress(errors.AgentOSError):
            await self._execute("ROLLBACK", ())

    @contextmanager
    def _translating(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc, self.path) from exc


def translate(exc: sqlite3.Error | OSError, path: str) -> errors.AgentOSError:
    """The project error that answers a sqlite3 (or file system) error."""
    if isinstance(exc, OSError):
        return _unusable(path, exc)

    name = getattr(exc, "sqlite_errorname", "") or ""
    primary = "_".join(name.split("_")[:2])
    if primary == "SQLITE_FULL":
        return errors.InsufficientStorage(
            f"The disk holding {path} is full; free space and retry."
        )
    if primary in _UNAVAILABLE:
        return _unusable(path, exc)
    if name in _BAD_VALUE:
        return errors.BadRequest(f"A value breaks a rule of the database: {exc}.")
    if primary == "SQLITE_CONSTRAINT":
        return errors.Conflict(f"The change conflicts with stored data: {exc}.")
    # A malformed statement or a misuse of the API: a defect, not a bad request.
    return errors.AgentOSError()


def _unusable(path: str, exc: BaseException) -> errors.DependencyDown:
    return errors.DependencyDown(
        f"The SQLite database {path} cannot be used ({exc}); check that the file "
        "and its directory exist and are writable, and that the disk is healthy."
    )


class _Transaction:
    """The executor of one open SQLite transaction; it dies with it."""

    def __init__(self, database: SQLiteDatabase) -> None:
        self._database = database
        self.closed = False

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""
        self._check_open()
        return await self._database._execute(sql, args)

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement for each tuple of arguments."""
        self._check_open()
        await self._database._executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run a query; return every row."""
        self._check_open()
        return await self._database._fetch(sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Run a query; return the first row or ``None``."""
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Run a query; return the first column of the first row, or ``None``."""
        row = await self.fetchrow(sql, *args)
        return next(iter(row.values())) if row else None

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("This transaction has ended; open a new one.")
