"""Per-action call statistics for the status endpoint, shared by every worker.

For each action the status endpoint shows the calls, how many failed (5xx)
or were refused (4xx), and the p50, p95 and p99 latency. Percentiles cannot
be added up across workers, but histograms can: every call lands in one of
``len(BOUNDS_MS)`` latency buckets whose upper bounds grow by 20% from
0.05 ms to about 90 s, and a percentile is read back as the upper bound of
the bucket it falls in, so it overstates the true value by less than 20%.

Cost on the request path: none. Each worker counts in memory and adds its
counts to one hash in the state store every ``flush_seconds`` with a single
script, so the figures lag by at most that long. Counters grow since the
first call; clearing them is ``reset``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from agentos import errors
from agentos.logs import log_event
from agentos.state.base import Script, StateStore

if TYPE_CHECKING:
    from agentos.state.keyspace import Keyspace

logger = logging.getLogger("agentos.stats")

STATS_KEY = "stats:{actions}"
BOUNDS_MS: tuple[float, ...] = tuple(0.05 * 1.2**n for n in range(80))
"""Upper bounds of the latency buckets; one more bucket holds everything above."""
PERCENTILES = (50, 95, 99)

_ADD_LUA = """
for i = 1, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""


def _add(view: Keyspace, keys: list[str], args: list[str], now: float) -> int:
    for field, amount in zip(args[::2], args[1::2], strict=True):
        view.hincrby(keys[0], field, int(amount))
    return len(args) // 2


ADD = Script("stats.add", _ADD_LUA, _add)
"""``KEYS[1]`` the stats hash; ``ARGV`` field, amount, field, amount, ..."""


def bucket_of(ms: float) -> int:
    """The index of the latency bucket that ``ms`` falls in."""
    return bisect.bisect_left(BOUNDS_MS, ms)


def percentile(buckets: dict[int, int], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding the ``q``-th percentile call."""
    total = sum(buckets.values())
    if not total:
        return None
    rank, seen = q / 100 * total, 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return _upper(index)
    return _upper(max(buckets))


def _upper(index: int) -> float:
    bound = BOUNDS_MS[index] if index < len(BOUNDS_MS) else BOUNDS_MS[-1] * 1.2
    return round(bound, 3)


def summarize(fields: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per action: calls, failures, refusals, rates and percentiles.

    ``fields`` are the stored counters, named ``<action>|calls``,
    ``<action>|failed``, ``<action>|refused`` and ``<action>|b<bucket>``.
    """
    grouped: dict[str, dict[str, int]] = defaultdict(dict)
    for name, count in fields.items():
        action, _, counter = name.rpartition("|")
        grouped[action][counter] = count
    return {action: _summary(counts) for action, counts in sorted(grouped.items())}


def _summary(counts: dict[str, int]) -> dict[str, Any]:
    calls = counts.get("calls", 0)
    failed, refused = counts.get("failed", 0), counts.get("refused", 0)
    buckets = {int(k[1:]): v for k, v in counts.items() if k.startswith("b")}
    latency = {f"p{q}": percentile(buckets, q) for q in PERCENTILES}
    return {
        "calls": calls,
        "failed": failed,
        "refused": refused,
        "error_rate": round(failed / calls, 4) if calls else 0.0,
        "refusal_rate": round(refused / calls, 4) if calls else 0.0,
        "latency_ms": latency,
    }


class ActionStats:
    """Counts calls in memory and adds them to the state store now and then."""

    def __init__(self, state: StateStore, *, flush_seconds: float = 1.0) -> None:
        self.state = state
        self.flush_seconds = flush_seconds
        self._pending: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def observe(self, action: str, status: int, ms: float) -> None:
        """Count one call of ``action`` that answered ``status`` after ``ms``."""
        self._pending[f"{action}|calls"] += 1
        self._pending[f"{action}|b{bucket_of(ms)}"] += 1
        if status >= 500:
            self._pending[f"{action}|failed"] += 1
        elif status >= 400:
            self._pending[f"{action}|refused"] += 1

    async def flush(self) -> None:
        """Add the counts gathered so far to the shared hash."""
        if not self._pending:
            return
        pending, self._pending = self._pending, Counter()
        args: list[str | int] = []
        for field, amount in pending.items():
            args += [field, amount]
        try:
            await self.state.run(ADD, [STATS_KEY], args)
        except errors.AgentOSError:
            self._pending.update(pending)  # keep them for the next flush
            raise

    async def read(self) -> dict[str, dict[str, Any]]:
        """Every action's figures, this worker's latest counts included."""
        await self.flush()
        stored = await self.state.hgetall(STATS_KEY)
        return summarize({name: int(value) for name, value in stored.items()})

    async def reset(self) -> None:
        """Forget every count, here and in the store."""
        self._pending.clear()
        await self.state.delete(STATS_KEY)

    async def start(self) -> None:
        """Start flushing every ``flush_seconds``."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="action-stats")

    async def close(self) -> None:
        """Stop flushing; try once more to keep what was counted."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        with contextlib.suppress(errors.AgentOSError):
            await self.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except errors.AgentOSError as exc:
                log_event(
                    logger, "stats.flush_failed", logging.WARNING, reason=exc.message
                )
