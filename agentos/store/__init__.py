"""Relational storage: one async interface, a SQLite and a PostgreSQL adapter.

``connect_database`` picks the adapter from ``database_url``:

* ``None`` - SQLite at ``<data_dir>/agentos.db``, the embedded default;
* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or
  ``sqlite:///:memory:`` - SQLite at that path (a relative path is taken from
  the working directory);
* ``postgresql://...`` or ``postgres://...`` - PostgreSQL.

The adapter connects on first use and does not migrate by itself: call
``await db.migrate()``.
"""

from __future__ import annotations

from pathlib import Path

from agentos.errors import ConfigError
from agentos.store.base import Database, Executor, Row
from agentos.store.postgres import PostgresDatabase
from agentos.store.sqlite import SQLiteDatabase

__all__ = [
    "Database",
    "Executor",
    "PostgresDatabase",
    "Row",
    "SQLiteDatabase",
    "connect_database",
    "sqlite_path",
]

DEFAULT_SQLITE_FILE = "agentos.db"


def connect_database(
    database_url: str | None,
    *,
    data_dir: Path,
    pool_size: int = 10,
    connect_timeout: float = 1.0,
    command_timeout: float = 5.0,
) -> Database:
    """The adapter for ``database_url``; it opens its connection on first use.

    ``pool_size`` and the timeouts (seconds) apply to PostgreSQL only.
    """
    if database_url is None:
        return SQLiteDatabase(data_dir / DEFAULT_SQLITE_FILE)

    scheme = database_url.partition(":")[0].lower()
    if scheme == "sqlite":
        return SQLiteDatabase(sqlite_path(database_url))
    if scheme in {"postgresql", "postgres"}:
        return PostgresDatabase(
            database_url,
            pool_size=pool_size,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
        )
    raise ConfigError(
        f"database_url has the unsupported scheme {scheme!r}; use postgresql://... "
        "or sqlite:///path, or leave it unset for SQLite under data_dir."
    )


def sqlite_path(database_url: str) -> str:
    """The file a ``sqlite:///`` URL names (``:memory:`` stays as it is)."""
    prefix = "sqlite:///"
    path = database_url[len(prefix):] if database_url.startswith(prefix) else ""
    if not path:
        raise ConfigError(
            f"database_url {database_url!r} names no file; write sqlite:///path.db "
            "(relative) or sqlite:////path.db (absolute)."
        )
    return path
