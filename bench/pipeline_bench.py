"""What each stage of the admin action pipeline costs, against a bare endpoint.

Run it with one command (PostgreSQL and Redis must be reachable)::

    .venv/bin/python bench/pipeline_bench.py [--seconds 8] [--connections 32]
        [--repeat 3] [--only audit,breaker]

For each variant the benchmark starts ``agentos serve`` with one worker on
PostgreSQL and Redis, drives ``POST /bench/bare`` (a bare JSON endpoint of
the same app, reading the same body) and then ``POST /api/admin/action``
with ``queue.resume`` (a cheap sync action: one Redis key deleted, the queue
status read back), each for ``--seconds`` at ``--connections`` concurrent
connections, and stops the server. The variants are the full pipeline and
the full pipeline with one stage switched off in turn
(``pipeline.stages.*``), so the cost of every stage is visible. Every action
request carries a fresh idempotency key, so the idempotency stage does its
two scripts on each call. With ``--repeat N`` the variants run N rounds,
interleaved so that a busy minute hurts them all alike, and the run with the
median action throughput is shown; each round starts with the next
variant, so that no variant always runs right after the database's busiest
moment. A last run of the full pipeline at
``--light`` connections (4) shows its latency when nothing queues: at 32
connections every request waits behind the others, so latency there is
32 divided by the throughput, whatever the pipeline does.

The load generator is wrk when it is on the PATH (it costs the server's
two cores least), else a Python one (httpx) in a separate process. The rate
limits are raised to a million calls a second in a copy of ``policies/``,
so the rate-limit stage spends its quota on every call without refusing.
Each run gets a database and a Redis prefix of its own, removed at the end.
The ``cpu us`` column is the server process's CPU time per request over the
run (``bench/process_cpu.py``): steadier than req/s on a shared machine, and
the ratio that req/s approaches when the worker's core is the only limit.
The ``redis`` and ``pg`` columns are the same for the Redis and PostgreSQL
servers (every backend of the latter) when they run on this machine: on
the 2-core reference machine they share the cores with the worker and the
load generator, so their CPU per call limits req/s as much as the worker's.
Whatever else those servers do meanwhile is counted too: run the bench on
a quiet machine.
Nothing is asserted: the table is the result. Environment:
``AGENTOS_BENCH_POSTGRES_URL`` (default postgresql://postgres@127.0.0.1:5432/test,
whose server hosts the bench database) and ``AGENTOS_BENCH_REDIS_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import jwt
import yaml
from process_cpu import Services, cpu_seconds, per_request_us

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "AGENTOS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("AGENTOS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "pipeline-bench-secret-" + secrets.token_hex(16)
STAGES = ("authenticate", "authorize", "rate_limit", "idempotency", "breaker", "audit")
ACTION_BODY = json.dumps({"action": "queue.resume", "payload": {}})
BARE_BODY = json.dumps({"action": "bare", "payload": {}})
WARMUP_SECONDS = 2.0
T = TypeVar("T")
SERVICES = Services()


@dataclass
class Result:
    """One load run: throughput, latency, and the server's CPU per request."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int
    cpu_us: float = float("nan")
    """The server process's CPU microseconds per request (``process_cpu``)."""
    redis_us: float = float("nan")
    """The local Redis server's CPU microseconds per request."""
    pg_us: float = float("nan")
    """The local PostgreSQL server's CPU microseconds per request, all backends."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# -- the load generators -----------------------------------------------------

_WRK_SCRIPT = """
local counter = 0
local token = "Bearer %(token)s"
local body = '%(body)s'
local path = "%(path)s"
local keyed = %(keyed)s
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", "%(nonce)s-" .. threads)
end
function request()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = token}
  if keyed then headers["X-Idempotency-Key"] = prefix .. "-" .. counter end
  return wrk.format("POST", path, headers, body)
end
function done(summary, latency, requests)
  local failures = summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '\\nRESULT {"requests": %%d, "us": %%d, "p50": %%d, "p99": %%d, ' ..
    '"failures": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), failures))
end
"""


def run_wrk(
    url: str,
    path: str,
    body: str,
    token: str,
    seconds: float,
    connections: int,
    keyed: bool,
) -> Result:
    """Drive ``path`` with wrk; its Lua script prints one RESULT line."""
    script = _WRK_SCRIPT % {
        "token": token,
        "body": body,
        "path": path,
        "keyed": str(keyed).lower(),
        "nonce": secrets.token_hex(6),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            [
                "wrk",
                f"-t{min(2, connections)}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                handle.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    data = json.loads(line[len("RESULT ") :])
    return Result(
        data["requests"],
        data["us"] / 1e6,
        data["p50"] / 1000,
        data["p99"] / 1000,
        data["failures"],
    )


def run_python(
    url: str,
    path: str,
    body: str,
    token: str,
    seconds: float,
    connections: int,
    keyed: bool,
) -> Result:
    """Drive ``path`` with the Python generator in its own process."""
    args = json.dumps([url, path, body, token, seconds, connections, keyed])
    output = subprocess.run(
        [sys.executable, __file__, "--generate", args],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    data = json.loads(output.strip().splitlines()[-1])
    return Result(**data)


async def _generate(
    url: str,
    path: str,
    body: str,
    token: str,
    seconds: float,
    connections: int,
    keyed: bool,
) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    async def one_connection(client: httpx.AsyncClient, worker: int) -> None:
        nonlocal failures
        count = 0
        while time.perf_counter() < deadline:
            count += 1
            extra = {"X-Idempotency-Key": f"{worker}-{count}-{secrets.token_hex(4)}"}
            started = time.perf_counter()
            response = await client.post(
                path, content=body, headers={**headers, **(extra if keyed else {})}
            )
            latencies.append(time.perf_counter() - started)
            failures += response.status_code >= 300

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await asyncio.gather(*(one_connection(client, n) for n in range(connections)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": time.perf_counter() - started,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
        "failures": failures,
    }


# -- the server under test ---------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_policies(target: Path) -> Path:
    """A copy of ``policies/`` whose rate limits never refuse in the bench."""
    shutil.copytree(REPO / "policies", target)
    limits = yaml.safe_load((target / "rate_limits.yaml").read_text())
    for section in ("rate_classes", "tiers"):
        for quota in limits.get(section, {}).values():
            quota.update(limit=1_000_000, window_seconds=1)
            quota.pop("burst", None)
    (target / "rate_limits.yaml").write_text(yaml.safe_dump(limits))
    return target


class Server:
    """``agentos serve`` in a subprocess with one worker and given settings."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentos", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read()  # type: ignore[union-attr]
                raise RuntimeError(stderr.decode()[-2000:])
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become healthy in time")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def server_env(
    database_url: str, prefix: str, policies: Path, data_dir: Path, off: str | None
) -> dict[str, str]:
    """The environment of one variant's server."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOS_")}
    env = {
        **clean,
        "AGENTOS_DATABASE_URL": database_url,
        "AGENTOS_REDIS_URL": REDIS_URL,
        "AGENTOS_REDIS_PREFIX": json.dumps(prefix),  # a YAML scalar: quote the colon
        "AGENTOS_POLICIES_DIR": str(policies),
        "AGENTOS_ACTIONS_DIR": str(REPO / "actions.d"),
        "AGENTOS_DATA_DIR": str(data_dir),
        "AGENTOS_JWT__SECRET": SECRET,
        "AGENTOS_ACCESS_LOG": "false",
        "AGENTOS_LOG_LEVEL": "ERROR",
        "AGENTOS_WORKERS": "1",
        "AGENTOS_PIPELINE__BENCH_ENDPOINT": "true",
        "AGENTOS_SSOT__WARMER_ENABLED": "false",
    }
    if off:
        env[f"AGENTOS_PIPELINE__STAGES__{off.upper()}"] = "false"
    return env


def access_token() -> str:
    """An admin token the bench servers accept (they share SECRET)."""
    now = int(time.time())
    claims = {
        "sub": "bench-admin",
        "roles": ["admin"],
        "iss": "agentos",
        "aud": "agentos-api",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": secrets.token_hex(8),
        "typ": "access",
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


# -- one run of the whole table ----------------------------------------------


def measure(server: Server, seconds: float, connections: int) -> tuple[Result, Result]:
    """Bare endpoint, then the action, after a warm-up of each."""
    load = run_wrk if shutil.which("wrk") else run_python
    token = access_token()
    runs = []
    for path, body, keyed in (
        ("/bench/bare", BARE_BODY, False),
        ("/api/admin/action", ACTION_BODY, True),
    ):
        load(server.url, path, body, token, WARMUP_SECONDS, connections, keyed)
        before, services = cpu_seconds(server.process.pid), SERVICES.read()
        run = load(server.url, path, body, token, seconds, connections, keyed)
        after, services_after = cpu_seconds(server.process.pid), SERVICES.read()
        count = run.requests
        runs.append(
            replace(
                run,
                cpu_us=per_request_us(before, after, count),
                redis_us=per_request_us(
                    services["redis"], services_after["redis"], count
                ),
                pg_us=per_request_us(
                    services["postgresql"], services_after["postgresql"], count
                ),
            )
        )
    return runs[0], runs[1]


async def create_database() -> tuple[str, str]:
    """A fresh database on the bench's PostgreSQL server: its name and URL."""
    name = f"agentos_bench_{secrets.token_hex(5)}"
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base, _, _ = POSTGRES_URL.rpartition("/")
    return name, f"{base}/{name}"


async def drop_database(name: str) -> None:
    """Drop the bench database."""
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def clear_prefix(prefix: str) -> None:
    """Remove every Redis key of the bench's prefix."""
    from agentos.state import RedisState

    state = RedisState.from_url(REDIS_URL, prefix=prefix)
    try:
        await state.delete_prefix("")
    finally:
        await state.close()


def print_table(rows: list[tuple[str, Result, Result]]) -> None:
    """Throughput, p50 and p99 of each variant, and the ratios that matter."""
    full = rows[0][2]
    print(
        f"\n{'variant':<22}{'endpoint':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'/bare':>8}{'/full':>8}{'cpu us':>8}{'redis':>7}{'pg':>6}{'fail':>6}"
    )
    for name, bare, action in rows:
        print(
            f"{name:<22}{'bare':<9}{bare.rate:>9.0f}{bare.p50_ms:>9.2f}"
            f"{bare.p99_ms:>9.2f}{'':>8}{'':>8}{bare.cpu_us:>8.0f}"
            f"{bare.redis_us:>7.0f}{bare.pg_us:>6.0f}{bare.failures:>6}"
        )
        print(
            f"{'':<22}{'action':<9}{action.rate:>9.0f}{action.p50_ms:>9.2f}"
            f"{action.p99_ms:>9.2f}{action.rate / bare.rate:>8.2f}"
            f"{action.rate / full.rate:>8.2f}{action.cpu_us:>8.0f}"
            f"{action.redis_us:>7.0f}{action.pg_us:>6.0f}{action.failures:>6}"
        )
    audit_off = dict((name, action) for name, _, action in rows).get("without audit")
    if audit_off:
        print(f"\naudit on / audit off: {full.rate / audit_off.rate:.2f}")
    bare = rows[0][1]
    print(
        f"full pipeline / bare endpoint: {full.rate / bare.rate:.2f}, "
        f"p99 {full.p99_ms:.1f} ms; by the server's CPU per request: "
        f"{bare.cpu_us / full.cpu_us:.2f} ({full.cpu_us:.0f} us against "
        f"{bare.cpu_us:.0f} us)"
    )


def print_light(connections: int, bare: Result, action: Result) -> None:
    """The latency of both endpoints when nothing queues in front of them."""
    print(f"\nlight load, {connections} connections (latency without queueing):")
    for name, result in (("bare", bare), ("action", action)):
        print(
            f"  {name:<7}{result.rate:>7.0f} req/s  p50 {result.p50_ms:.2f} ms  "
            f"p99 {result.p99_ms:.2f} ms"
        )


def run_variant(
    label: str,
    off: str | None,
    database_url: str,
    prefix: str,
    scratch: Path,
    args: argparse.Namespace,
    connections: int | None = None,
) -> tuple[Result, Result]:
    """Start a server for one variant, measure it, stop it."""
    env = server_env(database_url, prefix, scratch / "policies", scratch / "var", off)
    server = Server(env, free_port())
    try:
        server.wait_ready()
        bare, action = measure(server, args.seconds, connections or args.connections)
    finally:
        server.stop()
    print(f"  {label}: {action.rate:.0f} req/s (bare {bare.rate:.0f})", flush=True)
    return bare, action


def rotated(variants: list[T], turn: int) -> list[T]:
    """The variants in the order of round ``turn``: each round starts one later.

    The database's background work after variants that wrote many audit
    rows lands on whatever runs next. In a fixed order that was always the
    full pipeline, first of every round: its ``pg`` column rose by a third
    and its throughput fell by about a quarter in every round but the first.
    """
    start = turn % len(variants)
    return variants[start:] + variants[:start]


def median_run(runs: list[tuple[Result, Result]]) -> tuple[Result, Result]:
    """The run whose action throughput is the median of the repeats."""
    ordered = sorted(runs, key=lambda run: run[1].rate)
    return ordered[len(ordered) // 2]


def main() -> int:
    """Run every variant (``--repeat`` times, interleaved) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="rounds; median kept")
    parser.add_argument(
        "--light",
        type=int,
        default=4,
        help="connections of a last light-load run of the full pipeline, where "
        "latency is the service's own rather than the queue's (0: none)",
    )
    parser.add_argument(
        "--only", help="comma-separated stages to switch off (default all)"
    )
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(asyncio.run(_generate(*json.loads(args.generate)))))
        return 0

    chosen = args.only.split(",") if args.only else list(STAGES)
    variants: list[tuple[str, str | None]] = [("full pipeline", None)]
    variants += [(f"without {stage.replace('_', ' ')}", stage) for stage in chosen]
    name, database_url = asyncio.run(create_database())
    prefix = f"agentos-bench-{secrets.token_hex(5)}:"
    generator = "wrk" if shutil.which("wrk") else "python (httpx)"
    seconds, connections = args.seconds, args.connections
    print(f"load: {generator}, {connections} connections, {seconds:.0f} s per run")
    runs: dict[str, list[tuple[Result, Result]]] = {label: [] for label, _ in variants}
    light: tuple[Result, Result] | None = None
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        bench_policies(scratch / "policies")
        try:
            for turn in range(max(1, args.repeat)):
                for label, off in rotated(variants, turn):
                    runs[label].append(
                        run_variant(label, off, database_url, prefix, scratch, args)
                    )
            if args.light > 0:
                light = run_variant(
                    "full pipeline, light load", None, database_url, prefix, scratch,
                    args, connections=args.light,
                )
        finally:
            asyncio.run(drop_database(name))
            asyncio.run(clear_prefix(prefix))
    print_table([(label, *median_run(runs[label])) for label, _ in variants])
    if light:
        print_light(args.light, *light)
    return 0


if __name__ == "__main__":
    sys.exit(main())
