"""A dependency that stops mid-run: 503 DEPENDENCY_DOWN at once, nothing executed.

Decided behaviour (fail closed): when Redis or the database does not answer,
an admin action is refused with 503 ``DEPENDENCY_DOWN`` and ``Retry-After``
within a second, and its target is never called. Redis is played by a
throwaway ``redis-server`` killed mid-run; PostgreSQL by a TCP proxy in front
of the shared server, closed mid-run. The embedded store has no server to
stop: closing its database plays the same part there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.fixtures.app import AppMaker, RunningApp
from tests.pipeline.conftest import probe_of
from tests.pipeline.outages import TcpProxy, ThrowawayRedis

ANSWER_WITHIN_SECONDS = 1.0


@pytest.fixture
def own_redis() -> Iterator[ThrowawayRedis]:
    """A redis-server of this test alone."""
    server = ThrowawayRedis()
    yield server
    server.kill()


async def _touch(app: RunningApp) -> tuple[int, dict[str, str], dict, float]:
    started = time.perf_counter()
    response = await app.client.post(
        "/api/admin/action",
        json={"action": "probe.touch", "payload": {}},
        headers=app.auth("alice"),
    )
    return (
        response.status_code,
        dict(response.headers),
        response.json(),
        time.perf_counter() - started,
    )


async def test_redis_stopped_mid_run_fails_closed_within_a_second(
    make_app: AppMaker,
    probe_registered: None,
    probe_dirs: dict[str, Path],
    own_redis: ThrowawayRedis,
) -> None:
    """With Redis gone, the action is refused at once and never reaches its service."""
    app = await make_app(**probe_dirs, redis_url=own_redis.url)
    assert (await _touch(app))[0] == 200

    own_redis.kill()
    status, headers, body, took = await _touch(app)

    assert status == 503
    assert body["error_code"] == "DEPENDENCY_DOWN"
    assert int(headers["retry-after"]) >= 1
    assert took < ANSWER_WITHIN_SECONDS
    assert len(probe_of(app).calls) == 1
    records = await app.db.fetch("SELECT error_code FROM audit_records ORDER BY seq")
    assert records[-1]["error_code"] == "DEPENDENCY_DOWN"


async def test_database_stopped_mid_run_fails_closed_within_a_second(
    make_app: AppMaker,
    probe_registered: None,
    probe_dirs: dict[str, Path],
    request: pytest.FixtureRequest,
) -> None:
    """With the audit store gone, nothing runs: the call cannot be made durable."""
    proxy: TcpProxy | None = None
    overrides: dict[str, object] = dict(probe_dirs)
    if request.node.callspec.params["make_app"] == "services":
        proxy, overrides["database_url"] = await _proxied(request)
    app = await make_app(**overrides)
    assert (await _touch(app))[0] == 200

    if proxy is not None:
        await proxy.close()
    else:
        await app.db.close()
    status, headers, body, took = await _touch(app)

    assert status == 503
    assert body["error_code"] == "DEPENDENCY_DOWN"
    assert int(headers["retry-after"]) >= 1
    assert took < ANSWER_WITHIN_SECONDS
    assert len(probe_of(app).calls) == 1


async def _proxied(request: pytest.FixtureRequest) -> tuple[TcpProxy, str]:
    """A proxy in front of the session's PostgreSQL, and the URL through it."""
    url = urlsplit(request.getfixturevalue("postgres_url"))
    proxy = await TcpProxy(url.hostname or "127.0.0.1", url.port or 5432).start()
    netloc = (
        f"{url.username}@127.0.0.1:{proxy.port}"
        if url.username
        else (f"127.0.0.1:{proxy.port}")
    )
    return proxy, urlunsplit(url._replace(netloc=netloc))
