"""The production store: PostgreSQL through an asyncpg connection pool.

Theory of operation. The pool is created on first use, so building the
adapter never blocks and a database that is down at start is reported by the
first statement (``ping`` at start-up does exactly that). A statement alone
runs on any pooled connection; a transaction holds one connection from
``BEGIN`` to ``COMMIT``. Every new connection gets its codecs in the pool's
``init``: JSON and JSONB go in and out as ``dict``/``list``, UUIDs come out
as ``str`` (and go in as ``str`` or ``uuid.UUID``).

Timeouts. Connecting gives up after ``connect_timeout`` and a statement after
``command_timeout``. A stopped server is noticed at once (the connection is
refused or its socket closes); one that has gone silent is noticed within
those bounds, and either way the caller gets ``DependencyDown``, not a hang.
Migrations are the exception: their statements may take as long as they need.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
    suppress,
)
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg

from agentos import errors
from agentos.logs import log_event
from agentos.store import migrate
from agentos.store.base import Executor, Row

logger = logging.getLogger("agentos.store")

MIGRATION_TIMEOUT = 3600.0
SCHEMA_LOCK_KEY = 0x6167_656E_746F_73  # "agentos": the advisory lock of migrations

_CONFLICT = {"23505", "23503", "23P01", "23001"}  # unique, foreign key, exclusion,
# restrict (the audit table's append-only trigger)
_BAD_VALUE = {"23502", "23514"}  # not null, check
_UNAVAILABLE = {"08", "28", "3D", "53", "57", "58"}  # SQLSTATE classes: connection,
# authorization, unknown database, resources, operator intervention, system

# How asyncpg's InterfaceError says the connection or pool is gone. "released"
# appears when the pool detached a connection the server ended: our own
# executors refuse use after release before asyncpg could see it.
_CONNECTION_GONE = ("closed", "closing", "released back to the pool")

# Everything the driver raises. InternalClientError is what asyncpg raises when
# a statement meets a connection the server has just ended.
DRIVER_ERRORS = (
    asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError
)


async def _init_connection(connection: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(
            json_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
    await connection.set_type_codec(
        "uuid", encoder=str, decoder=str, schema="pg_catalog", format="text"
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Hand a released connection back as it is (asyncpg has rolled back already).

    asyncpg's default reset sends ``RESET ALL``, ``UNLISTEN *`` and friends on
    every release: one more round trip per statement, 12-25% of a short
    insert's throughput. This service never leaves session state on a pooled
    connection (no ``SET``, no session advisory lock, no ``LISTEN``, no
    cursor outside a transaction), so there is nothing to reset. Whoever
    adds such state must take a dedicated connection instead.
    """


def describe(url: str) -> str:
    """``host:port/database`` of a PostgreSQL URL, without its credentials."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = parts.hostname or query.get("host", ["localhost"])[0]
    try:
        port = parts.port or int(query.get("port", ["5432"])[0])
    except ValueError:
        port = 5432
    database = parts.path.lstrip("/") or parts.username or "postgres"
    return f"{host}:{port}/{database}"


def rows_changed(status: str) -> int:
    """The row count at the end of a command tag (``UPDATE 3``, ``INSERT 0 1``)."""
    count = status.rpartition(" ")[2]
    return int(count) if count.isdigit() else 0


class PostgresDatabase:
    """A ``Database`` on a PostgreSQL server, through a pool opened on first use."""

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        connect_timeout: float = 1.0,
        command_timeout: float = 5.0,
    ) -> None:
        self.target = describe(url)
        self._url = url
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    # -- the Executor interface, each statement alone --------------------

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""
        pool = await self._connect()
        with self._translating():
            return rows_changed(await pool.execute(sql, *args))

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement for each tuple of arguments, all or none."""
        pool = await self._connect()
        with self._translating():
            await pool.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run a query; return every row."""
        pool = await self._connect()
        with self._translating():
            records = await pool.fetch(sql, *args)
        return [dict(record) for record in records]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Run a query; return the first row or ``None``."""
        pool = await self._connect()
        with self._translating():
            record = await pool.fetchrow(sql, *args)
        return None if record is None else dict(record)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Run a query; return the first column of the first row, or ``None``."""
        pool = await self._connect()
        with self._translating():
            return await pool.fetchval(sql, *args)

    # -- transactions and lifecycle ---------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        """Hold one pooled connection for a transaction."""
        pool = await self._connect()
        with self._translating():
            connection = await pool.acquire()
        tx = _Transaction(connection, self._translating)
        transaction = connection.transaction()
        try:
            with self._translating():
                await transaction.start()
            try:
                yield tx
            except BaseException:
                await self._rollback_quietly(transaction)
                raise
            with self._translating():
                await transaction.commit()
        finally:
            tx.closed = True
            await pool.release(connection)

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
        """Close the pool, waiting for connections in use to come back."""
        self._closed = True
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    # -- what the migration runner needs ----------------------------------

    async def has_table(self, name: str) -> bool:
        """Whether a table of this name is visible on the search path."""
        return bool(await self.fetchval("SELECT to_regclass($1) IS NOT NULL", name))

    async def lock_schema(self, tx: Executor) -> None:
        """Take the migrations' advisory lock until ``tx`` ends (waiting as long
        as another process needs to finish migrating)."""
        assert isinstance(tx, _Transaction)
        with self._translating():
            await tx.connection.execute(
                "SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY,
                timeout=MIGRATION_TIMEOUT,
            )

    async def run_script(self, tx: Executor, sql: str) -> None:
        """Run a file of statements in ``tx``, without the command timeout."""
        assert isinstance(tx, _Transaction)
        with self._translating():
            await tx.connection.execute(sql, timeout=MIGRATION_TIMEOUT)

    # -- internals -----------------------------------------------------------

    async def _connect(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise errors.DependencyDown(f"The database {self.target} is closed.")
        async with self._opening:
            if self._pool is None:
                self._pool = await self._create_pool()
        return self._pool

    async def _create_pool(self) -> asyncpg.Pool:
        try:
            pool = await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
                init=_init_connection,
                reset=_keep_session,
            )
        except (ValueError, asyncpg.ClientConfigurationError) as exc:
            raise errors.ConfigError(
                f"database_url is not a usable PostgreSQL URL: {exc}."
            ) from exc
        except DRIVER_ERRORS as exc:
            raise translate(exc, self.target) from exc
        log_event(logger, "store.opened", dialect=self.dialect, target=self.target,
                  pool_size=self._pool_size)
        return pool

    async def _rollback_quietly(self, transaction: Any) -> None:
        # The connection may be gone already; the original error matters more,
        # and the pool discards a broken connection on release.
        with suppress(*DRIVER_ERRORS):
            await transaction.rollback()

    @contextmanager
    def _translating(self) -> Iterator[None]:
        try:
            yield
        except DRIVER_ERRORS as exc:
            raise translate(exc, self.target) from exc


def translate(exc: Exception, target: str) -> errors.AgentOSError:
    """The project error that answers an asyncpg (or socket) error."""
    if isinstance(exc, (OSError, asyncpg.InternalClientError)):
        return _unreachable(target, exc)  # refused, reset, timed out, or ended
    if isinstance(exc, asyncpg.InterfaceError):
        gone = any(marker in str(exc) for marker in _CONNECTION_GONE)
        return _unreachable(target, exc) if gone else errors.AgentOSError()

    state = getattr(exc, "sqlstate", None) or ""
    if state in _CONFLICT:
        return errors.Conflict(f"The change conflicts with stored data: {exc}.")
    if state in _BAD_VALUE or isinstance(exc, asyncpg.DataError):
        return errors.BadRequest(f"A value breaks a rule of the database: {exc}.")
    if state.startswith("40"):
        return errors.DependencyDown(
            "The database aborted the transaction to resolve a conflict with "
            "another one (deadlock or serialization failure); retry the request."
        )
    if state[:2] in _UNAVAILABLE:
        return _unreachable(target, exc)
    # A malformed statement or a misuse of the API: a defect, not a bad request.
    return errors.AgentOSError()


def _unreachable(target: str, exc: BaseException) -> errors.DependencyDown:
    address, _, database = target.partition("/")
    reason = str(exc) or type(exc).__name__
    return errors.DependencyDown(
        f"PostgreSQL at {address} (database {database}) cannot be used ({reason}); "
        "check that it is running and reachable, and that database_url is right."
    )


class _Transaction:
    """The executor of one open PostgreSQL transaction; it dies with it."""

    def __init__(
        self,
        connection: asyncpg.Connection,
        translating: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self.connection = connection
        self.closed = False
        self._translating = translating

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""
        with self._open():
            return rows_changed(await self.connection.execute(sql, *args))

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement for each tuple of arguments."""
        with self._open():
            await self.connection.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run a query; return every row."""
        with self._open():
            records = await self.connection.fetch(sql, *args)
        return [dict(record) for record in records]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Run a query; return the first row or ``None``."""
        with self._open():
            record = await self.connection.fetchrow(sql, *args)
        return None if record is None else dict(record)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Run a query; return the first column of the first row, or ``None``."""
        with self._open():
            return await self.connection.fetchval(sql, *args)

    @contextmanager
    def _open(self) -> Iterator[None]:
        if self.closed:
            raise RuntimeError("This transaction has ended; open a new one.")
        with self._translating():
            yield
