"""Client CPU per Redis command: redis-py's pool against the multiplexed connection.

Run it with one command (Redis must be reachable)::

    .venv/bin/python bench/redis_client_bench.py [--commands 40000]
        [--concurrency 32] [--repeat 3]

Each case sends ``--commands`` commands from ``--concurrency`` concurrent
tasks on uvloop, as the service's workers do, and reports the CPU time this
process spent per command (the Redis server's own work is not in it) and
the wall time per command. The cases:

* **redis-py pool**: ``GET`` and a one-line ``EVALSHA`` through a
  ``redis.asyncio`` client configured as ``RedisState`` configures its pool
  (blocking pool, one-second timeouts, one retry);
* **multiplexed**: the same commands through ``MultiplexedRedis``, the one
  shared connection that ``RedisState`` uses for every command that never
  blocks.

Cases run interleaved ``--repeat`` times and the median is shown, with the
ratio of the multiplexed client's CPU to the pool's. Nothing is asserted:
the table is the result. Environment: ``AGENTOS_BENCH_REDIS_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop
from redis.asyncio import BlockingConnectionPool, Redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agentos.state.redis import _connection_options  # noqa: E402
from agentos.state.redis_mux import MultiplexedRedis  # noqa: E402

REDIS_URL = os.environ.get("AGENTOS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
KEY = "agentos-bench:redis-client"
LUA = "return redis.call('GET', KEYS[1])"

Command = Callable[[], Awaitable[object]]
Results = dict[str, list[tuple[float, float]]]


async def timed(command: Command, count: int, concurrency: int) -> tuple[float, float]:
    """CPU and wall microseconds per command for ``count`` commands."""

    async def task() -> None:
        for _ in range(count // concurrency):
            await command()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(task() for _ in range(concurrency)))
    sent = count // concurrency * concurrency
    return (
        (time.process_time() - cpu) / sent * 1e6,
        (time.perf_counter() - wall) / sent * 1e6,
    )


async def run(args: argparse.Namespace) -> Results:
    """Every case, interleaved ``args.repeat`` times."""
    pool = BlockingConnectionPool.from_url(
        REDIS_URL, max_connections=50, timeout=1.0, **_connection_options(1.0)
    )
    client = Redis.from_pool(pool)
    mux = MultiplexedRedis(REDIS_URL, timeout=1.0)
    script = client.register_script(LUA)
    await client.set(KEY, "x" * 64)
    sha = await client.script_load(LUA)

    cases: dict[str, Command] = {
        "redis-py pool, GET": lambda: client.get(KEY),
        "multiplexed, GET": lambda: mux.execute("GET", KEY),
        "redis-py pool, EVALSHA": lambda: script(keys=[KEY]),
        "multiplexed, EVALSHA": lambda: mux.execute("EVALSHA", sha, 1, KEY),
    }
    results: Results = {name: [] for name in cases}
    try:
        for command in cases.values():  # warm-up: connections, caches
            await timed(command, 2_000, args.concurrency)
        for _ in range(args.repeat):
            for name, command in cases.items():
                results[name].append(
                    await timed(command, args.commands, args.concurrency)
                )
    finally:
        await client.delete(KEY)
        await client.aclose()
        await mux.close()
    return results


def report(results: Results, args: argparse.Namespace) -> None:
    """Median CPU and wall time per command, and the CPU ratios."""
    print(
        f"\n{args.commands:,} commands from {args.concurrency} tasks, "
        f"median of {args.repeat}\n"
    )
    print(f"{'case':<26}{'CPU us/cmd':>12}{'wall us/cmd':>13}")
    cpu = {}
    for name, runs in results.items():
        cpu[name] = statistics.median(run[0] for run in runs)
        wall = statistics.median(run[1] for run in runs)
        print(f"{name:<26}{cpu[name]:>12.1f}{wall:>13.1f}")
    print()
    for command in ("GET", "EVALSHA"):
        ratio = cpu[f"multiplexed, {command}"] / cpu[f"redis-py pool, {command}"]
        print(f"{command}: multiplexed CPU / pool CPU = {ratio:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=40_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report(uvloop.run(run(args)), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
