"""The SSOT cache against a bare endpoint of the same app, and the cost of a miss.

Run it with one command (PostgreSQL and Redis must be reachable)::

    .venv/bin/python bench/ssot_bench.py [--seconds 5] [--rounds 3]
                                         [--connections 16] [--misses 200]

It creates a database of its own on the PostgreSQL server, migrates it and
fills it with 10,000 jobs (plus a few alerts and log lines), then starts
``agentos serve`` with one worker on that database and on Redis under a key
prefix of its own, with ``ssot.bench_endpoint`` on and the warmer off (so
that nothing rebuilds the cache during a run). On the loopback it measures:

* **bare endpoint** - ``GET /bench/ssot-bare``, a byte string as long as
  the SSOT answer, through the same app and middleware;
* **bare, authenticated** - the same, after verifying the caller's token
  and roles as the SSOT endpoint does;
* **bare, behind the admin gate** - ``GET /api/admin/bench/ssot-bare``: the
  same bytes through everything an admin read passes (allowlist, the
  ``admin_read`` tier, token, revocation and roles), so that the distance
  to a hit is what the cache itself costs;
* **SSOT cache hit** - ``GET /api/admin/ssot`` with a warm cache, served
  from the process's local copy;
* **SSOT hit, no local copy** - the same on a second server with
  ``ssot.local_copy_seconds: 0``, so each hit reads Redis;
* **SSOT miss** - ``--misses`` sequential reads on that second server, the
  cache key deleted before each, so each read collects the whole document.

Each load case runs for ``--seconds`` at ``--connections`` keep-alive
connections, ``--rounds`` times (the first three cases in turn), and the
median round is reported. The rate limits are raised out of reach in a copy of
``policies/`` (so every request still spends its tier, without refusal).
The ``cpu us`` column is the server's CPU time per answer over the run
(``bench/process_cpu.py``), steadier than req/s on a shared machine.
The database and the Redis keys are removed at the end. Nothing is asserted;
the table is the result, with the aims beside it: a miss under 50 ms at
p99, and a hit at 80% or more of the throughput of the same bytes answered
behind the same gate. The hit is held to the gated baseline because every
admin read must pass the gate (roles, allowlist, an exact per-user
``admin_read`` tier), and the gate's one state-store round trip alone takes
about half of an ungated answer's throughput; the ratio to the ungated bare
endpoint is printed beside it, so the gate's cost stays in view. The
machine's other load moves these figures a lot: compare rows of one run,
not runs.
Environment: ``AGENTOS_BENCH_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/test, whose server hosts the bench
database) and ``AGENTOS_BENCH_REDIS_URL``.

The load generator is wrk when it is on the PATH (Debian's package; it
costs the two cores least), else a small HTTP/1.1 client on raw asyncio
streams in this process, which costs a few tens of microseconds a request
and so lowers every row.
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
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from process_cpu import cpu_seconds, per_request_us  # noqa: E402

from agentos.auth.tokens import TokenKeys, issue_token  # noqa: E402
from agentos.state import RedisState  # noqa: E402
from agentos.store import connect_database  # noqa: E402

POSTGRES_URL = os.environ.get(
    "AGENTOS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("AGENTOS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "ssot-bench-" + secrets.token_hex(24)
JOBS = 10_000
CACHE_KEY = "admin:dashboard:v4"
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
MAX_REQUESTS = 2_000_000
"""A bound on one run, whatever its duration."""

Results = dict[str, Any]


# -- the load generator ------------------------------------------------------


@dataclass
class Run:
    """One load run: how many answers, how long, their latencies."""

    latencies: list[float]
    seconds: float
    failures: int
    requests: int | None = None
    """Answers counted by wrk, which keeps only percentiles (then ``latencies``
    holds the p50 and the p99)."""
    cpu_us: float = float("nan")
    """The server's CPU microseconds per answer (``bench/process_cpu.py``)."""

    @property
    def answered(self) -> int:
        return len(self.latencies) if self.requests is None else self.requests

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if self.requests is not None:
            return self.latencies[0 if fraction <= 0.5 else 1] * 1000
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def request_bytes(path: str, port: int, token: str | None) -> bytes:
    """One keep-alive GET, ready to write as it is."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 answer with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def load(port: int, request: bytes, seconds: float, connections: int) -> Run:
    """Send ``request`` over ``connections`` connections for ``seconds``."""
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline and len(latencies) < MAX_REQUESTS:
                sent = time.perf_counter()
                writer.write(request)
                status, _ = await read_answer(reader)
                if status != 200:
                    failures += 1
                    continue
                latencies.append(time.perf_counter() - sent)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return Run(latencies, time.perf_counter() - started, failures)


_WRK_SCRIPT = """
%(headers)s
function done(summary, latency, requests)
  local failures = summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '\\nRESULT {"requests": %%d, "us": %%d, "failures": %%d, "p": [%%s]}\\n',
    summary.requests, summary.duration, failures,
    table.concat({latency:percentile(50), latency:percentile(99)}, ",")))
end
"""


def load_with_wrk(
    port: int, request: bytes, seconds: float, connections: int
) -> Run:
    """The same load from wrk, which costs the server's two cores far less."""
    line, *headers = request.decode().strip().split("\r\n")
    path = line.split(" ")[1]
    lua = "\n".join(
        f'wrk.headers["{name}"] = "{value.strip()}"'
        for name, _, value in (header.partition(":") for header in headers)
        if name.lower() != "host"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT % {"headers": lua})
    duration = f"-d{max(1, round(seconds))}s"  # wrk takes whole seconds only
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", duration, "-s", script.name,
             f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    result = json.loads(out.rsplit("RESULT", 1)[1])
    p50, p99 = (us / 1e6 for us in result["p"])
    # wrk reports percentiles, not every latency: two points stand for them.
    return Run([p50, p99], result["us"] / 1e6, result["failures"],
               requests=result["requests"])


async def drive(
    port: int, request: bytes, seconds: float, connections: int, pid: int
) -> Run:
    """Load from wrk when it is on the PATH, else from this process.

    ``pid`` is the server's: its CPU time over the run is divided by the answers.
    """
    before = cpu_seconds(pid)
    if shutil.which("wrk"):
        run = await asyncio.to_thread(
            load_with_wrk, port, request, seconds, connections
        )
    else:
        run = await load(port, request, seconds, connections)
    run.cpu_us = per_request_us(before, cpu_seconds(pid), run.answered)
    return run


# -- the data ----------------------------------------------------------------


async def create_database() -> str:
    """A fresh database on the bench PostgreSQL server; its URL."""
    name = f"agentos_ssot_bench_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))


async def drop_database(url: str) -> None:
    """Drop the bench database, closing what is still connected to it."""
    name = urlsplit(url).path.lstrip("/")
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _job(index: int, now: datetime) -> tuple[Any, ...]:
    status = STATUSES[index % len(STATUSES)]
    created = now - timedelta(minutes=index % 1440)
    started = None if status == "queued" else created + timedelta(seconds=5)
    finished = created + timedelta(minutes=1) if status in STATUSES[2:] else None
    return (
        str(uuid.uuid4()), str(uuid.uuid4()), "clip", {}, status, index % 10,
        ("clipper", "encoder", "transcriber")[index % 3],
        0.0 if started is None else 0.5,
        created, created, started, finished, now,
    )


async def fill(url: str) -> None:
    """Migrate and insert the jobs, alerts and logs the document summarizes."""
    db = connect_database(url, data_dir=Path("."), pool_size=2)
    try:
        await db.migrate()
        now = datetime.now(UTC)
        await db.executemany(
            "INSERT INTO jobs (id, owner_id, kind, params, status, priority,"
            " agent_type, progress, created_at, queued_at, started_at, finished_at,"
            " updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            [_job(i, now) for i in range(JOBS)],
        )
        for index in range(5):
            await db.execute(
                "INSERT INTO alerts (id, kind, severity, status, message, fields,"
                " created_at) VALUES ($1, 'queue', 'warning', 'active', $2, $3, $4)",
                str(uuid.uuid4()), f"Queue depth high ({index})", {}, now,
            )
        await db.executemany(
            "INSERT INTO logs (ts, level, logger, message, fields)"
            " VALUES ($1, $2, 'agentos.bench', $3, $4)",
            [(now - timedelta(seconds=i), ("info", "warning", "error")[i % 3],
              f"line {i}", {}) for i in range(300)],
        )
    finally:
        await db.close()


# -- the server --------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unlimited_policies(target: Path) -> Path:
    """A copy of policies/ whose rate limits no benchmark reaches."""
    shutil.copytree(REPO / "policies", target)
    limits_file = target / "rate_limits.yaml"
    if limits_file.exists():
        limits = yaml.safe_load(limits_file.read_text())
        for group in ("rate_classes", "tiers"):
            for entry in (limits.get(group) or {}).values():
                entry["limit"] = 1_000_000_000
        limits_file.write_text(yaml.safe_dump(limits))
    return target


def start_server(
    database_url: str, prefix: str, scratch: Path, port: int, **settings: str
) -> Any:
    """``agentos serve`` with one worker, the bench endpoint on, warmer off.

    ``settings`` adds ``AGENTOS_*`` variables (``SSOT__LOCAL_COPY_SECONDS=...``).
    """
    env = {
        **os.environ,
        "AGENTOS_CONFIG": str(scratch / "none.yaml"),
        "AGENTOS_DATABASE_URL": database_url,
        "AGENTOS_REDIS_URL": REDIS_URL,
        "AGENTOS_REDIS_PREFIX": f"'{prefix}'",  # quoted: a YAML scalar
        "AGENTOS_PORT": str(port),
        "AGENTOS_WORKERS": "1",
        "AGENTOS_DATA_DIR": str(scratch / "var"),
        "AGENTOS_POLICIES_DIR": str(unlimited_policies(scratch / "policies")),
        "AGENTOS_ACTIONS_DIR": str(REPO / "actions.d"),
        "AGENTOS_ACCESS_LOG": "false",
        "AGENTOS_LOG_LEVEL": "WARNING",
        "AGENTOS_JWT__SECRET": SECRET,
        "AGENTOS_SSOT__TTL_SECONDS": "3600",
        "AGENTOS_SSOT__WARMER_ENABLED": "false",
        "AGENTOS_SSOT__BENCH_ENDPOINT": "true",
        **{f"AGENTOS_{name}": value for name, value in settings.items()},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "agentos", "serve"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {process.stderr.read().decode()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not listen within 60 s")


def stop_server(process: Any) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- the measurements ----------------------------------------------------------


async def first_answer(port: int, request: bytes) -> bytes:
    """The body of one answer, which must be a 200."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    status, body = await read_answer(reader)
    writer.close()
    if status != 200:
        raise SystemExit(f"the server answered {status}: {body[:300]!r}")
    return body


async def measure_hits(
    port: int, pid: int, token: str, args: argparse.Namespace
) -> Results:
    """Rounds of SSOT hits and of the bare endpoint, without and with the token."""
    ssot = request_bytes("/api/admin/ssot", port, token)
    size = len(await first_answer(port, ssot))
    bare_path = f"/bench/ssot-bare?size={size}"
    gated_path = f"/api/admin/bench/ssot-bare?size={size}&auth=1"
    cases = {
        "bare endpoint": request_bytes(bare_path, port, None),
        "bare, authenticated": request_bytes(bare_path + "&auth=1", port, token),
        "bare, behind the admin gate": request_bytes(gated_path, port, token),
        "SSOT cache hit": ssot,
    }

    runs: Results = {name: [] for name in cases}
    for request in cases.values():  # warm-up, not counted
        await drive(port, request, 1.0, args.connections, pid)
    for _ in range(args.rounds):
        for name, request in cases.items():
            runs[name].append(
                await drive(port, request, args.seconds, args.connections, pid)
            )
    runs["size"] = size
    return runs


async def measure_uncopied(
    port: int, pid: int, token: str, args: argparse.Namespace
) -> Results:
    """Hits that ask Redis every time, then misses; the server keeps no local copy."""
    ssot = request_bytes("/api/admin/ssot", port, token)
    await first_answer(port, ssot)
    await drive(port, ssot, 1.0, args.connections, pid)

    runs: Results = {"SSOT hit, no local copy": []}
    for _ in range(args.rounds):
        runs["SSOT hit, no local copy"].append(
            await drive(port, ssot, args.seconds, args.connections, pid)
        )
    runs["misses"] = await measure_misses(port, ssot, args.misses)
    return runs


async def measure_misses(port: int, request: bytes, count: int) -> list[float]:
    """``count`` reads, each after deleting the cached document."""
    prefix = os.environ["SSOT_BENCH_PREFIX"]
    state = RedisState.from_url(REDIS_URL, prefix=prefix)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies = []
    try:
        for _ in range(count):
            await state.delete(CACHE_KEY)
            sent = time.perf_counter()
            writer.write(request)
            status, _ = await read_answer(reader)
            if status == 200:
                latencies.append(time.perf_counter() - sent)
    finally:
        writer.close()
        await state.close()
    return latencies


def median_run(runs: list[Run]) -> Run:
    """The run of median throughput."""
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def report(results: Results, args: argparse.Namespace) -> None:
    """Print the table."""
    rows = ("bare endpoint", "bare, authenticated", "bare, behind the admin gate",
            "SSOT cache hit", "SSOT hit, no local copy")
    median = {name: median_run(results[name]) for name in rows}
    misses = sorted(results["misses"])
    runs = [run for name in rows for run in results[name]]
    ratio = median["SSOT cache hit"].rate / median["bare endpoint"].rate
    gated = median["SSOT cache hit"].rate / median["bare, behind the admin gate"].rate

    print(f"\nSSOT benchmark: PostgreSQL + Redis, {JOBS:,} jobs, one worker, "
          f"{args.connections} connections, median of {args.rounds} x "
          f"{args.seconds:g} s; loopback")
    print(f"document answer: {results['size']:,} bytes; "
          f"non-200 answers: {sum(run.failures for run in runs)}\n")
    print(f"{'case':<30}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'cpu us':>9}")
    for name in rows:
        run = median[name]
        print(f"{name:<30}{run.rate:>9,.0f}{run.percentile(0.5):>9.2f}"
              f"{run.percentile(0.99):>9.2f}{run.cpu_us:>9.0f}")
    print(f"{'SSOT miss (sequential)':<30}{'':>9}{_ms(misses, 0.5):>9.2f}"
          f"{_ms(misses, 0.99):>9.2f}")
    print()
    print(f"hit / the same bytes behind the same gate: {gated:.2f}  (aim >= 0.80: "
          f"{'met' if gated >= 0.8 else 'missed'}; what the cache itself costs)")
    by_cpu = median["bare endpoint"].cpu_us / median["SSOT cache hit"].cpu_us
    print(f"hit / ungated bare endpoint: {ratio:.2f} by throughput, {by_cpu:.2f} by "
          "the server's CPU per answer  (the gate's allowlist, token, admission "
          "and admin_read tier: one state-store round trip)")
    print(f"miss p99 over {len(misses)} misses: {_ms(misses, 0.99):.1f} ms  "
          f"(aim < 50 ms: {'met' if _ms(misses, 0.99) < 50 else 'missed'})")


def _ms(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def main() -> int:
    """Set up, measure, report, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--misses", type=int, default=200)
    args = parser.parse_args()

    prefix = f"agentos-ssot-bench-{secrets.token_hex(4)}:"
    os.environ["SSOT_BENCH_PREFIX"] = prefix
    database_url = asyncio.run(create_database())
    scratch = Path(tempfile.mkdtemp(prefix="ssot-bench-"))
    keys = TokenKeys(SECRET, "agentos", "agentos-api")
    token, _ = issue_token(keys, str(uuid.uuid4()), ["admin"], ttl_seconds=3600)
    results: Results = {}
    try:
        asyncio.run(fill(database_url))
        for local_copy, measure in (("1", measure_hits), ("0", measure_uncopied)):
            port = free_port()
            server = start_server(
                database_url, prefix, scratch / local_copy, port,
                SSOT__LOCAL_COPY_SECONDS=local_copy,
            )
            try:
                results.update(asyncio.run(measure(port, server.pid, token, args)))
            finally:
                stop_server(server)
    finally:
        asyncio.run(_clear(prefix))
        asyncio.run(drop_database(database_url))
        shutil.rmtree(scratch, ignore_errors=True)
    report(results, args)
    return 0


async def _clear(prefix: str) -> None:
    state = RedisState.from_url(REDIS_URL, prefix=prefix)
    try:
        await state.delete_prefix("")
    finally:
        await state.close()


if __name__ == "__main__":
    sys.exit(main())
