"""``agentos serve`` with two workers: figures summed, one warmer for both.

The service runs as a real multi-process deployment on PostgreSQL and
Redis: Sanic's main process prepares the shared metrics folder, each worker
writes its own files, and any worker's ``/metrics`` shows the sum. The
warmer runs in every worker but only the holder of the lock rebuilds, so
collections come about once per interval, not once per worker.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentos.auth.tokens import TokenKeys, issue_token
from agentos.config import JWTSettings
from tests.fixtures.app import REPO, TEST_SECRET, free_port
from tests.fixtures.services import REDIS_URL, require_service

pytestmark = pytest.mark.slow


@pytest.fixture
def two_workers(tmp_path: Path, postgres_url: str) -> Iterator[tuple[str, Path]]:
    """A two-worker server on a free port; its URL and its data folder."""
    require_service("Redis", "127.0.0.1", 6379)
    port = free_port()
    data_dir = tmp_path / "var"
    prefix = f"agentos-workers-test-{uuid.uuid4().hex[:10]}:"
    env = {
        **os.environ,
        "AGENTOS_CONFIG": str(tmp_path / "absent.yaml"),
        "AGENTOS_DATABASE_URL": postgres_url,
        "AGENTOS_REDIS_URL": REDIS_URL,
        "AGENTOS_REDIS_PREFIX": f"'{prefix}'",
        "AGENTOS_PORT": str(port),
        "AGENTOS_WORKERS": "2",
        "AGENTOS_DATA_DIR": str(data_dir),
        "AGENTOS_ACTIONS_DIR": str(REPO / "actions.d"),
        "AGENTOS_POLICIES_DIR": str(REPO / "policies"),
        "AGENTOS_JWT__SECRET": TEST_SECRET,
        "AGENTOS_ACCESS_LOG": "false",
        "AGENTOS_SSOT__WARM_INTERVAL_SECONDS": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "agentos", "serve"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(server, url)
        yield url, data_dir
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        _delete_prefix(prefix)


def _wait_ready(server: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            stderr = server.stderr.read().decode() if server.stderr else ""
            pytest.fail(f"the server stopped at start:\n{stderr[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("the two-worker server did not answer /health within 90 s")


def _delete_prefix(prefix: str) -> None:
    import asyncio

    from agentos.state import RedisState

    async def run() -> None:
        state = RedisState.from_url(REDIS_URL, prefix=prefix)
        try:
            await state.delete_prefix("")
        finally:
            await state.close()

    asyncio.run(run())


def _scrape_token() -> str:
    """A readonly token the server accepts: signed with the test secret."""
    claims = JWTSettings()  # the server runs with the default issuer and audience
    keys = TokenKeys(TEST_SECRET, claims.issuer, claims.audience)
    token, _ = issue_token(keys, "prometheus", ["readonly"], ttl_seconds=600)
    return token


def _value(exposition: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} (\S+)$", exposition, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_figures_of_both_workers_are_summed_and_one_warmer_runs(
    two_workers: tuple[str, Path],
) -> None:
    """Requests spread over two workers add up; collections come once a second."""
    url, data_dir = two_workers
    started = time.monotonic()

    for _ in range(40):
        with httpx.Client(base_url=url, timeout=10) as fresh_connection:
            assert fresh_connection.get("/health").status_code == 200
    time.sleep(max(0.0, 4 - (time.monotonic() - started)))
    scrape = {"Authorization": f"Bearer {_scrape_token()}"}
    exposition = httpx.get(f"{url}/metrics", headers=scrape, timeout=10).text
    elapsed = time.monotonic() - started

    writers = {p.name.rsplit("_", 1)[-1] for p in (data_dir / "metrics").glob("*.db")}
    health = _value(
        exposition,
        r'agentos_http_requests_total\{method="GET",route="/health",status="200"\}',
    )
    collections = _value(exposition, "agentos_ssot_collection_duration_seconds_count")
    assert len(writers) >= 2, f"only {writers} wrote figures"
    assert health >= 40
    assert 1 <= collections <= elapsed + 2
