"""GET /api/admin/ssot over HTTP, on the embedded and the real backends."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos import metrics
from agentos.config import Settings
from agentos.ssot.model import CACHE_KEY
from tests.fixtures.app import (
    REPO,
    AppMaker,
    RunningApp,
    base_settings,
    free_port,
    start_app,
    stop_app,
)
from tests.fixtures.policies import write_policies
from tests.fixtures.services import require_service

PATH = "/api/admin/ssot"
QUIET = {"ssot": {"warmer_enabled": False}}
"""No background warmer: a test that compares tags controls every rebuild."""


@pytest.fixture
async def quiet(make_app: AppMaker) -> RunningApp:
    """A server without the warmer, on each backend."""
    return await make_app(**QUIET)


async def _read(running: RunningApp, *roles: str, **kwargs: Any) -> Any:
    headers = running.auth(None, *(roles or ("admin",)))
    headers.update(kwargs.pop("headers", {}))
    return await running.client.get(PATH, headers=headers, **kwargs)


@pytest.mark.parametrize("role", ["admin", "operator", "supervisor", "readonly"])
async def test_every_admin_read_role_gets_the_document(
    quiet: RunningApp, role: str
) -> None:
    """admin, operator, supervisor and readonly may read the SSOT document."""

    response = await _read(quiet, role)

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert set(body["data"]) == {
        "dashboard", "agents_workers", "analytics", "queue", "logs", "meta",
    }
    assert body["trace_id"] == response.headers["X-Trace-Id"]


@pytest.mark.parametrize("roles", [("user",), ("auditor", "guest")])
async def test_a_reader_without_an_admin_read_role_is_refused(
    quiet: RunningApp, roles: tuple[str, ...]
) -> None:
    """A token whose roles grant no admin read gets 403 FORBIDDEN."""

    response = await _read(quiet, *roles)

    assert response.status_code == 403
    assert response.json()["error_code"] == "FORBIDDEN"


async def test_a_client_outside_the_admin_allowlist_is_refused(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """From an address outside policies' admin_allowlist the answer is 403."""
    policies = write_policies(tmp_path, access={"admin_allowlist": ["10.0.0.0/8"]})
    running = await make_app(policies_dir=policies, **QUIET)

    response = await _read(running)

    assert response.status_code == 403
    assert response.json()["error_code"] == "IP_NOT_ALLOWED"
    assert await running.state.get(CACHE_KEY) is None


async def test_reads_spend_the_admin_read_tier(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """Past the admin_read tier's limit a reader gets 429 with Retry-After."""
    shipped = yaml.safe_load((REPO / "policies" / "rate_limits.yaml").read_text())
    tiers = {**shipped["tiers"], "admin_read": {"per": "user", "limit": 3,
                                                "window_seconds": 60}}
    policies = write_policies(tmp_path, rate_limits={"tiers": tiers})
    running = await make_app(policies_dir=policies, **QUIET)
    token = running.auth()

    answers = [await running.client.get(PATH, headers=token) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["error_code"] == "RATE_LIMITED"
    assert int(answers[3].headers["Retry-After"]) > 0


async def test_a_request_without_a_token_is_unauthorized(quiet: RunningApp) -> None:
    """No bearer token is a 401, before anything is collected."""

    response = await quiet.client.get(PATH)

    assert response.status_code == 401
    assert await quiet.state.get(CACHE_KEY) is None


async def test_a_miss_then_a_hit_serve_the_same_document(quiet: RunningApp) -> None:
    """The first read is a miss that fills the cache; the next is a hit of it."""

    first = await _read(quiet)
    second = await _read(quiet)

    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.headers["ETag"] == second.headers["ETag"]
    assert int(second.headers["Age"]) >= 0
    assert first.json()["data"] == second.json()["data"]
    assert second.json()["trace_id"] != first.json()["trace_id"]


async def test_if_none_match_with_the_current_tag_is_304(quiet: RunningApp) -> None:
    """A reader that has the current document gets 304 and no body."""
    etag = (await _read(quiet)).headers["ETag"]

    response = await _read(quiet, headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag


async def test_if_none_match_with_a_stale_tag_gets_the_new_document(
    quiet: RunningApp,
) -> None:
    """After a rebuild, the old tag no longer matches: 200 with the new document."""
    old = await _read(quiet)
    await quiet.app.ctx.ssot.refresh()

    response = await _read(quiet, headers={"If-None-Match": old.headers["ETag"]})

    assert response.status_code == 200
    assert response.headers["ETag"] != old.headers["ETag"]
    new_meta = response.json()["data"]["meta"]
    assert new_meta["generated_at"] > old.json()["data"]["meta"]["generated_at"]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"sections": "dashboard,queue"}, id="comma-separated"),
        pytest.param([("sections", "queue"), ("sections", "dashboard")], id="repeated"),
    ],
)
async def test_sections_returns_a_subset_with_meta(
    quiet: RunningApp, params: Any
) -> None:
    """?sections= returns the named sections and meta, with a tag of its own."""
    whole = await _read(quiet)

    response = await _read(quiet, params=params)

    assert response.status_code == 200
    assert list(response.json()["data"]) == ["dashboard", "queue", "meta"]
    assert response.json()["data"]["queue"] == whole.json()["data"]["queue"]
    assert response.headers["ETag"] != whole.headers["ETag"]
    assert response.headers["X-Cache"] == "hit"


async def test_an_unknown_section_is_a_400_naming_it(quiet: RunningApp) -> None:
    """An unknown section name is refused with VALIDATION_ERROR naming it."""

    response = await _read(quiet, params={"sections": "dashboard,weather"})

    body = response.json()
    assert response.status_code == 400
    assert body["error_code"] == "VALIDATION_ERROR"
    assert "'weather'" in body["error"]
    assert body["details"][0]["field"] == "sections"
    assert body["details"][0]["value"] == "weather"


async def _rename_logs(running: RunningApp, old: str, new: str) -> None:
    await running.db.execute(f"ALTER TABLE {old} RENAME TO {new}")


async def test_one_failing_section_query_leaves_the_rest_of_the_document(
    quiet: RunningApp,
) -> None:
    """With the logs table gone, logs is stale or failed and the rest still comes."""
    before = (await _read(quiet)).json()["data"]
    await _rename_logs(quiet, "logs", "logs_hidden")
    try:
        await quiet.app.ctx.ssot.refresh()
        response = await _read(quiet)
    finally:
        await _rename_logs(quiet, "logs_hidden", "logs")

    data = response.json()["data"]
    sections = data["meta"]["sections"]
    assert response.status_code == 200
    assert sections["logs"]["status"] == "stale"
    assert sections["logs"]["error"]
    assert data["logs"] == before["logs"]
    assert sections["logs"]["as_of"] < data["meta"]["generated_at"]
    assert all(sections[name]["status"] == "ok" for name in
               ("dashboard", "agents_workers", "analytics", "queue"))
    assert data["meta"]["complete"] is False


async def test_a_section_that_never_succeeded_is_failed_and_null(
    quiet: RunningApp,
) -> None:
    """Failing on the very first collection, a section is null and failed."""
    await _rename_logs(quiet, "logs", "logs_hidden")
    try:
        response = await _read(quiet)
    finally:
        await _rename_logs(quiet, "logs_hidden", "logs")

    data = response.json()["data"]
    assert response.status_code == 200
    assert data["logs"] is None
    assert data["meta"]["sections"]["logs"]["status"] == "failed"
    assert data["dashboard"]["jobs"]["total"] == 0


async def test_steady_reads_hit_the_cache_at_least_95_percent(
    make_app: AppMaker
) -> None:
    """Under a steady read load with the warmer on, /metrics shows >= 95% hits.

    The TTL is two seconds and the warmer runs every second, so over the
    three seconds of reads the document expires more than once: only the
    warmer keeps the hit rate up.
    """
    running = await make_app(ssot={"ttl_seconds": 2, "warm_interval_seconds": 1})
    metrics.reset()
    token = running.auth()
    reads = 0

    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        response = await running.client.get(PATH, headers=token)
        assert response.status_code == 200
        reads += 1
        await asyncio.sleep(0.01)
    exposition = (await running.client.get("/metrics", headers=token)).text

    hit_ratio = _sample(exposition, "agentos_ssot_cache_hit_ratio")
    hits = _sample(exposition, r'agentos_ssot_reads_total\{result="hit"\}')
    assert hit_ratio >= 0.95
    assert hits >= reads * 0.95
    assert running.app.ctx.ssot_warmer.warmed >= 2


def _sample(exposition: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} (\S+)$", exposition, re.MULTILINE)
    assert match, f"no sample matches {pattern}"
    return float(match.group(1))


# -- on PostgreSQL and a Redis of the test's own --------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A throwaway redis-server on a free port, killed at the end (never 6379)."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                require_service("own Redis", "127.0.0.1", port)
                break
            except BaseException:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
async def services_apps(
    tmp_path: Path, postgres_url: str
) -> AsyncIterator[list[RunningApp]]:
    """Servers started by the test on PostgreSQL; stopped at the end."""
    started: list[RunningApp] = []
    yield started
    for running in reversed(started):
        await stop_app(running)


async def _start(tmp_path: Path, database_url: str, redis_url: str,
                 prefix: str = "agentos-ssot-test:") -> RunningApp:
    settings = base_settings(
        tmp_path, database_url=database_url, redis_url=redis_url,
        redis_prefix=prefix, ssot={"warmer_enabled": False, "local_copy_seconds": 0},
    )
    return await start_app(Settings.model_validate(settings), "services")


async def test_with_redis_stopped_the_document_still_comes_uncached(
    tmp_path: Path, postgres_url: str, own_redis: Any, services_apps: list[RunningApp]
) -> None:
    """Redis killed under a running server: 200, collected directly, uncached."""
    url, process = own_redis
    running = await _start(tmp_path, postgres_url, url)
    services_apps.append(running)
    assert (await _read(running)).headers["X-Cache"] == "miss"
    assert (await _read(running)).headers["X-Cache"] == "hit"

    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    response = await _read(running)

    data = response.json()["data"]
    assert response.status_code == 200
    assert response.headers["X-Cache"] == "miss"
    assert data["meta"]["cache"] == "uncached"
    assert data["meta"]["sections"]["dashboard"]["status"] == "ok"
    assert data["dashboard"]["maintenance"]["state"] == "unknown"
    assert data["meta"]["sections"]["queue"]["status"] == "stale"


async def test_two_servers_warming_at_once_warm_once(
    tmp_path: Path, postgres_url: str, services_apps: list[RunningApp]
) -> None:
    """Two servers of one deployment tick together: one rebuilds, one skips."""
    require_service("Redis", "127.0.0.1", 6379)
    from agentos.ssot.warmer import Warmer
    from tests.fixtures.services import REDIS_URL

    prefix = f"agentos-ssot-test-{os.getpid()}-{time.time_ns()}:"
    for _ in range(2):
        services_apps.append(await _start(tmp_path, postgres_url, REDIS_URL, prefix))
    warmers = [Warmer(r.app.ctx.ssot, interval_seconds=5) for r in services_apps]

    try:
        results = await asyncio.gather(*(w.tick() for w in warmers))
        stored = await services_apps[0].state.get(CACHE_KEY)
    finally:
        for warmer in warmers:
            await warmer.stop()
        await services_apps[0].state.delete_prefix("")

    assert sorted(results) == [False, True]
    assert stored is not None
