"""The SPEND script on both state backends: exact, atomic, all or nothing."""

from __future__ import annotations

import asyncio

import pytest

from agentos.pipeline.ratelimit.algorithms import Algorithm, Quota
from agentos.pipeline.ratelimit.limiter import RateLimiter
from agentos.pipeline.ratelimit.policy import RateLimitPolicy
from agentos.state import StateStore

WINDOW_MS = 60_000
BOUNDARY = 29_000_000 * WINDOW_MS
"""A window boundary of every window length used here."""


def limiter(state: StateStore) -> RateLimiter:
    """A limiter over ``state``; these tests name their quotas themselves."""
    return RateLimiter(state, RateLimitPolicy(classes={}, tiers={}))


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_200_concurrent_calls_against_a_limit_of_50_let_exactly_50_through(
    state: StateStore, algorithm: Algorithm
) -> None:
    """No two calls see the same count: the check and the count are one step."""
    quota = Quota("fifty", limit=50, window_seconds=3600, algorithm=algorithm)
    spend = limiter(state).spend
    now = None if algorithm is not Algorithm.FIXED_WINDOW else BOUNDARY + 1_000.0

    decisions = await asyncio.gather(
        *(spend([(quota, "rl:u:{a}:fifty")], now_ms=now) for _ in range(200))
    )

    assert sum(decision.allowed for decision in decisions) == 50
    remaining = sorted(d.verdicts[0].remaining for d in decisions if d.allowed)
    assert remaining == list(range(50))


@pytest.mark.parametrize(
    ("algorithm", "let_through"),
    [
        pytest.param(Algorithm.FIXED_WINDOW, 100, id="fixed-window-doubles"),
        pytest.param(Algorithm.SLIDING_WINDOW, 50, id="sliding-window-holds"),
        pytest.param(Algorithm.TOKEN_BUCKET, 50, id="token-bucket-holds"),
    ],
)
async def test_the_boundary_burst_passes_a_fixed_window_only(
    state: StateStore, algorithm: Algorithm, let_through: int
) -> None:
    """50 calls just before a window boundary and 50 just after it."""
    quota = Quota("fifty", limit=50, window_seconds=60, algorithm=algorithm)
    spend = limiter(state).spend
    before, after = BOUNDARY - 1.0, BOUNDARY + 1.0

    allowed = 0
    for now in [before] * 50 + [after] * 50:
        decision = await spend([(quota, "rl:u:{a}:burst")], now_ms=now)
        allowed += decision.allowed

    assert allowed == let_through


async def test_sliding_window_lets_a_call_through_once_the_oldest_leaves(
    state: StateStore,
) -> None:
    """A full window refuses until exactly one window after its first call."""
    quota = Quota("three", limit=3, window_seconds=60)
    spend = limiter(state).spend
    for offset in (0, 10_000, 20_000):
        await spend([(quota, "rl:u:{a}:slide")], now_ms=BOUNDARY + offset)

    early = await spend([(quota, "rl:u:{a}:slide")], now_ms=BOUNDARY + 59_999)
    on_time = await spend([(quota, "rl:u:{a}:slide")], now_ms=BOUNDARY + 60_000)
    next_one = await spend([(quota, "rl:u:{a}:slide")], now_ms=BOUNDARY + 60_001)

    assert (early.allowed, early.verdicts[0].reset_ms) == (False, 1)
    assert on_time.allowed
    assert (next_one.allowed, next_one.verdicts[0].reset_ms) == (False, 9_999)


async def test_token_bucket_refills_one_token_per_interval(state: StateStore) -> None:
    """Empty after its capacity; one more call each window/limit milliseconds."""
    quota = Quota("six", limit=6, window_seconds=60, algorithm=Algorithm.TOKEN_BUCKET)
    spend = limiter(state).spend
    for _ in range(6):
        await spend([(quota, "rl:u:{a}:bucket")], now_ms=BOUNDARY)

    empty = await spend([(quota, "rl:u:{a}:bucket")], now_ms=BOUNDARY + 9_999)
    refilled = await spend([(quota, "rl:u:{a}:bucket")], now_ms=BOUNDARY + 10_000)
    again = await spend([(quota, "rl:u:{a}:bucket")], now_ms=BOUNDARY + 10_001)

    assert (empty.allowed, empty.verdicts[0].reset_ms) == (False, 1)
    assert refilled.allowed
    assert not again.allowed


async def test_a_call_refused_by_one_quota_spends_none_of_the_others(
    state: StateStore,
) -> None:
    """All or nothing: the roomy quota keeps the unit the refused call wanted."""
    roomy, tight = Quota("roomy", 10, 60), Quota("tight", 1, 60)
    spend = limiter(state).spend
    keys = [(roomy, "rl:u:{a}:roomy"), (tight, "rl:u:{a}:tight")]

    first = await spend(keys, now_ms=BOUNDARY)
    refused = await spend(keys, now_ms=BOUNDARY + 1)
    roomy_alone = await spend(keys[:1], now_ms=BOUNDARY + 2)

    assert first.allowed and [v.remaining for v in first.verdicts] == [9, 0]
    assert not refused.allowed
    assert [v.allowed for v in refused.verdicts] == [True, False]
    assert refused.verdicts[0].remaining == 9
    assert roomy_alone.verdicts[0].remaining == 8


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_every_counter_expires_once_it_no_longer_matters(
    state: StateStore, algorithm: Algorithm
) -> None:
    """Stored state carries a TTL no longer than the window."""
    quota = Quota("ttl", limit=5, window_seconds=60, algorithm=algorithm)

    await limiter(state).spend([(quota, "rl:u:{a}:ttl")])

    left = await state.ttl("rl:u:{a}:ttl")
    assert left is not None and 0 < left <= 60
