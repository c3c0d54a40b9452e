"""The ``agentos`` command: exit codes and messages on bad settings and dead stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from agentos.auth.tokens import TokenKeys, decode_token
from tests.fixtures.app import free_port
from tests.fixtures.services import REDIS_URL, require_service

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m agentos`` with ``args`` and a clean AGENTOS_* environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOS_")}
    return subprocess.run(
        [sys.executable, "-m", "agentos", *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_bad_config_file_value_stops_serve_with_exit_2(tmp_path: Path) -> None:
    """An invalid config.yaml value ends `serve` with a report, no traceback."""
    config = tmp_path / "config.yaml"
    config.write_text("port: not-a-port\n")

    result = run_cli("serve", env={"AGENTOS_CONFIG": str(config)})

    assert result.returncode == 2
    assert "port" in result.stderr
    assert "not-a-port" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_environment_override_stops_serve_with_exit_2(tmp_path: Path) -> None:
    """An invalid AGENTOS_* override is named in the report."""

    result = run_cli("serve", env={"AGENTOS_WORKERS": "-3",
                                   "AGENTOS_DATA_DIR": str(tmp_path)})

    assert result.returncode == 2
    assert "AGENTOS_WORKERS" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_at_start_is_a_clear_error(tmp_path: Path) -> None:
    """A database URL nobody answers at ends the start quickly with exit 2."""
    port = free_port()
    env = {
        "AGENTOS_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/none",
        "AGENTOS_DATA_DIR": str(tmp_path),
    }

    result = run_cli("serve", env=env)

    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_workers_on_the_in_memory_state_are_refused(tmp_path: Path) -> None:
    """The in-memory state refuses to serve more than one worker, and says why."""

    result = run_cli("serve", "--workers", "2", env={"AGENTOS_DATA_DIR": str(tmp_path)})

    assert result.returncode == 2
    assert "AGENTOS_REDIS_URL" in result.stderr


def test_token_issue_prints_one_token_alone_on_its_line(tmp_path: Path) -> None:
    """`agentos token issue` prints just the signed token."""
    env = {"AGENTOS_DATA_DIR": str(tmp_path)}

    result = run_cli("token", "issue", "--sub", "ops-1", "--role", "admin", env=env)

    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0
    assert len(lines) == 1
    assert lines[0].count(".") == 2


def test_token_issue_with_refresh_prints_a_session_pair(tmp_path: Path) -> None:
    """`--refresh` prints both tokens of a new session as JSON; the refresh
    token verifies as one and carries the session's family."""
    secret = "cli-test-secret-that-is-long-enough-for-hs256"
    env = {"AGENTOS_DATA_DIR": str(tmp_path), "AGENTOS_JWT__SECRET": secret}

    result = run_cli("token", "issue", "--sub", "u-1", "--role", "user",
                     "--refresh", env=env)

    pair = json.loads(result.stdout)
    keys = TokenKeys(secret, "agentos", "agentos-api")
    claims = decode_token(keys, pair["refresh_token"], token_type="refresh")
    assert result.returncode == 0
    assert claims["fam"] == pair["family_id"]
    assert decode_token(keys, pair["access_token"])["sub"] == "u-1"


def serve_and_read_health(env: dict[str, str]) -> dict:
    """Run `agentos serve` on a free port with ``env``; return /health's body."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "agentos", "serve", "--port", str(port)],
        env={**clean, **env}, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        return _wait_for_health(port, process)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_serve_on_the_embedded_default_answers_health(tmp_path: Path) -> None:
    """`agentos serve` with no settings runs on SQLite and memory; /health is 200."""

    body = serve_and_read_health({"AGENTOS_DATA_DIR": str(tmp_path / "var")})

    assert body["data"]["status"] == "ok"
    assert body["data"]["checks"]["database"]["backend"] == "sqlite"
    assert body["data"]["checks"]["state"]["backend"] == "memory"
    assert (tmp_path / "var" / "agentos.db").exists()


@pytest.mark.slow
def test_serve_on_postgresql_and_redis_names_them_in_health(
    tmp_path: Path, postgres_url: str
) -> None:
    """With both URLs set, the same service runs on them and /health says so."""
    require_service("Redis", "127.0.0.1", 6379)
    env = {
        "AGENTOS_DATA_DIR": str(tmp_path / "var"),
        "AGENTOS_DATABASE_URL": postgres_url,
        "AGENTOS_REDIS_URL": REDIS_URL,
        "AGENTOS_REDIS_PREFIX": f"agentos-cli-test-{uuid.uuid4().hex[:8]}:",
    }

    body = serve_and_read_health(env)

    checks = body["data"]["checks"]
    assert body["data"]["status"] == "ok"
    assert checks["database"]["backend"] == "postgresql"
    assert checks["state"]["backend"] == "redis"
    assert not (tmp_path / "var" / "agentos.db").exists()


def _wait_for_health(port: int, process: subprocess.Popen[str]) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited early: {process.stderr.read()}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert response.status_code == 200
        return response.json()
    pytest.fail("serve did not answer /health within 30 s")
