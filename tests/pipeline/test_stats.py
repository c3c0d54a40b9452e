"""Per-action statistics: histograms that add up across workers."""

from __future__ import annotations

import pytest

from agentos.pipeline.stats import (
    BOUNDS_MS,
    ActionStats,
    bucket_of,
    percentile,
    summarize,
)
from agentos.state.base import StateStore


@pytest.mark.parametrize(
    "ms",
    [
        pytest.param(0.01, id="tiny"),
        pytest.param(3.3, id="ms"),
        pytest.param(900, id="s"),
    ],
)
def test_a_latency_falls_in_the_bucket_bounding_it(ms: float) -> None:
    """The bucket's upper bound is at least the latency and under 20% above it."""

    index = bucket_of(ms)

    assert BOUNDS_MS[index] >= ms
    assert index == 0 or BOUNDS_MS[index - 1] < ms


def test_percentiles_come_from_the_buckets() -> None:
    """Of 100 calls, 98 fast and 2 slow, p50 and p95 are fast and p99 slow."""
    buckets = {bucket_of(1.0): 98, bucket_of(500.0): 2}

    p50, p95, p99 = (percentile(buckets, q) for q in (50, 95, 99))

    assert p50 == p95
    assert p50 is not None and 1.0 <= p50 < 1.2
    assert p99 is not None and 500 <= p99 < 600
    assert percentile({}, 50) is None


def test_summary_counts_failures_and_refusals_apart() -> None:
    """5xx answers are failures, 4xx refusals; each has its rate."""
    fields = {
        "job.cancel|calls": 10,
        "job.cancel|failed": 1,
        "job.cancel|refused": 4,
        f"job.cancel|b{bucket_of(2)}": 10,
    }

    summary = summarize(fields)["job.cancel"]

    assert (summary["calls"], summary["error_rate"], summary["refusal_rate"]) == (
        10,
        0.1,
        0.4,
    )


async def test_two_workers_counts_add_up_in_the_store(state: StateStore) -> None:
    """Counts of two workers flushed to one store are read back as one."""
    first, second = ActionStats(state), ActionStats(state)
    for ms in (1, 2, 3):
        first.observe("job.cancel", 200, ms)
    second.observe("job.cancel", 503, 40)
    second.observe("queue.pause", 403, 1)

    await first.flush()
    figures = await second.read()

    assert figures["job.cancel"]["calls"] == 4
    assert figures["job.cancel"]["failed"] == 1
    assert figures["queue.pause"]["refused"] == 1
    assert figures["job.cancel"]["latency_ms"]["p99"] >= 40
    await first.reset()
    assert await first.read() == {}
