"""A database that cannot be reached is a clear ``DependencyDown``, never a hang."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentos import errors
from agentos.store import connect_database
from tests.fixtures.database import with_database


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest_asyncio.fixture
async def silent_port() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_closed_port_is_dependency_down_naming_host_and_port(
    tmp_path: Path,
) -> None:
    """Nothing listening: 503 whose message names the address, and no password."""
    port = closed_port()
    url = f"postgresql://agentos:s3cret-pass@127.0.0.1:{port}/agentos"
    db = connect_database(url, data_dir=tmp_path)

    with pytest.raises(errors.DependencyDown) as caught:
        await db.ping()
    await db.close()

    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "check" in message
    assert "s3cret-pass" not in message
    assert caught.value.headers["Retry-After"] == "1"


async def test_a_server_that_never_answers_times_out_as_dependency_down(
    tmp_path: Path, silent_port: int
) -> None:
    """A silent server is given up on after the connect timeout, not 60 s.

    The bound is loose on purpose: it tells a configured timeout (0.3 s) from
    the driver's default of a minute, not fast from slow.
    """
    url = f"postgresql://postgres@127.0.0.1:{silent_port}/test"
    db = connect_database(url, data_dir=tmp_path, connect_timeout=0.3)

    started = time.monotonic()
    with pytest.raises(errors.DependencyDown) as caught:
        await db.ping()
    elapsed = time.monotonic() - started
    await db.close()

    assert elapsed < 10
    assert f"127.0.0.1:{silent_port}" in str(caught.value)


@pytest.mark.postgres
async def test_a_database_that_does_not_exist_is_named_in_the_error(
    postgres_session_url: str, tmp_path: Path
) -> None:
    """The server answers but lacks the database: 503 naming the database."""
    url = with_database(postgres_session_url, "agentos_no_such_database")
    db = connect_database(url, data_dir=tmp_path)

    with pytest.raises(errors.DependencyDown) as caught:
        await db.ping()
    await db.close()

    assert "agentos_no_such_database" in str(caught.value)


async def test_a_sqlite_file_in_an_impossible_place_names_the_file(
    tmp_path: Path,
) -> None:
    """A path under a regular file cannot be created: 503 naming the file."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file, not a folder")
    path = blocker / "agentos.db"
    db = connect_database(f"sqlite:///{path}", data_dir=tmp_path)

    with pytest.raises(errors.DependencyDown) as caught:
        await db.migrate()
    await db.close()

    assert str(path) in str(caught.value)
    assert "writable" in str(caught.value)


async def test_a_sqlite_file_that_is_not_a_database_is_dependency_down(
    tmp_path: Path,
) -> None:
    """A file of other content at the path is reported, not overwritten."""
    path = tmp_path / "agentos.db"
    path.write_bytes(b"this is not an SQLite database, and it is long enough" * 20)
    db = connect_database(f"sqlite:///{path}", data_dir=tmp_path)

    with pytest.raises(errors.DependencyDown) as caught:
        await db.migrate()
    await db.close()

    assert str(path) in str(caught.value)
    assert path.read_bytes().startswith(b"this is not an SQLite database")


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("mysql://root@db/agentos", id="unsupported-scheme"),
        pytest.param("sqlite://", id="sqlite-without-path"),
        pytest.param("sqlite:///", id="sqlite-with-empty-path"),
    ],
)
def test_an_unusable_database_url_is_a_config_error(url: str, tmp_path: Path) -> None:
    """A URL no adapter can use stops the start with a sentence saying why."""
    with pytest.raises(errors.ConfigError, match="database_url"):
        connect_database(url, data_dir=tmp_path)
