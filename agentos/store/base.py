"""The relational store interface that services program against.

Services write SQL once, in a portable dialect that both adapters run:

* placeholders are ``$1, $2, ...`` (the SQLite adapter renumbers them);
* ids are UUID strings, timestamps are timezone-aware ``datetime`` objects,
  JSON columns take and give ``dict``/``list``, booleans are ``bool``;
* no casts (``::jsonb``), no server-side ``now()``: times come from Python;
* ``INSERT ... ON CONFLICT ... DO UPDATE`` and ``RETURNING`` are fine.

Rows come back as plain ``dict`` objects with those Python types on both
adapters (on SQLite only for columns read as they are: an expression such as
``max(created_at)`` comes back as stored text). Driver errors never escape an
adapter:

* unreachable, closed, timed out or lost - ``errors.DependencyDown`` (503),
  naming the database host or file;
* a unique or foreign-key violation, or a change to an append-only table -
  ``errors.Conflict`` (409);
* a CHECK or NOT NULL violation or a value of the wrong form (a malformed
  UUID on PostgreSQL) - ``errors.BadRequest`` (400);
* anything else (a malformed statement) - ``errors.AgentOSError`` (500), with
  the driver's exception as ``__cause__``.

An adapter connects on first use. ``executemany`` is all or nothing. Inside
a transaction, use the transaction's executor: on SQLite the database itself
is held by the transaction, and a statement on it from the same task raises
``RuntimeError`` rather than wait forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Row = dict[str, Any]


class Executor(Protocol):
    """Something that runs portable SQL: the database or one transaction."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement for each tuple of arguments."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run a query; return every row."""

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Run a query; return the first row or ``None``."""

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Run a query; return the first column of the first row, or ``None``."""


class Database(Executor, Protocol):
    """A connected store: PostgreSQL in production, SQLite embedded."""

    dialect: str
    """``"postgresql"`` or ``"sqlite"``: for the rare statement that differs."""

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """Open a transaction; it commits on exit and rolls back on error."""

    async def ping(self) -> float:
        """Round-trip a trivial query; return its latency in milliseconds."""

    async def migrate(self) -> list[str]:
        """Apply pending migrations; return the names of those applied."""

    async def pending_migrations(self) -> list[str]:
        """Return the names of the migrations not applied yet."""

    async def close(self) -> None:
        """Release every connection."""


StreamRows = AsyncIterator[Row]
