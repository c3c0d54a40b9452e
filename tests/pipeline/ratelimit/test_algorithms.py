"""The rate-limit arithmetic as plain functions: no store, no clock."""

from __future__ import annotations

import pytest

from agentos.pipeline.ratelimit.algorithms import (
    Quota,
    Verdict,
    burst_allowance,
    fixed_window,
    sliding_window,
    token_bucket,
)

FIVE_A_MINUTE = Quota("five", limit=5, window_seconds=60)


@pytest.mark.parametrize(
    ("limit", "factor", "seconds", "extra"),
    [
        pytest.param(100, 2, 10, 17, id="user-tier"),
        pytest.param(10, 2, 10, 2, id="public-tier"),
        pytest.param(500, 2, 10, 83, id="admin-read-tier"),
        pytest.param(50, 2, 10, 8, id="admin-action-tier"),
        pytest.param(100, 1, 10, 0, id="factor-one-is-no-burst"),
        pytest.param(60, 3, 30, 60, id="triple-for-half-the-window"),
    ],
)
def test_burst_allowance_is_the_extra_spent_at_factor_times_the_rate(
    limit: int, factor: float, seconds: float, extra: int
) -> None:
    """Running at factor x rate for some seconds spends this many calls extra."""

    assert burst_allowance(limit, 60, factor, seconds) == extra


@pytest.mark.parametrize(
    ("limit", "window", "burst"),
    [
        pytest.param(0, 60, 0, id="no-calls"),
        pytest.param(5, 0, 0, id="no-window"),
        pytest.param(5, 60, -1, id="negative-burst"),
    ],
)
def test_a_quota_that_allows_nothing_sensible_is_refused(
    limit: int, window: int, burst: int
) -> None:
    """Zero limits, zero windows and negative bursts are programming errors."""

    with pytest.raises(ValueError, match="Quota"):
        Quota("bad", limit=limit, window_seconds=window, burst=burst)


def test_a_refused_verdict_asks_for_at_least_one_second() -> None:
    """Retry-After rounds up, and is never 0 for a refusal."""

    assert Verdict(False, 0, 1).retry_after_seconds == 1
    assert Verdict(False, 0, 1_500).retry_after_seconds == 2
    assert Verdict(True, 3, 1_500).retry_after_seconds == 0


def test_sliding_window_allows_up_to_the_capacity_and_counts_down() -> None:
    """Each logged call in the window takes one unit; the last one leaves none."""

    first = sliding_window(0, None, 1_000.0, FIVE_A_MINUTE)
    last = sliding_window(4, 500.0, 1_000.0, FIVE_A_MINUTE)
    over = sliding_window(5, 500.0, 1_000.0, FIVE_A_MINUTE)

    assert first == Verdict(True, 4, 60_000)
    assert last == Verdict(True, 0, 59_500)
    assert over == Verdict(False, 0, 59_500)


def test_sliding_window_refusal_waits_for_the_oldest_call_to_leave() -> None:
    """Retry when the oldest counted call falls out of the trailing window."""

    verdict = sliding_window(5, 10_000.0, 69_999.0, FIVE_A_MINUTE)

    assert not verdict.allowed
    assert verdict.reset_ms == 1


def test_token_bucket_starts_full_and_refills_at_the_rate() -> None:
    """A new bucket holds the capacity; one token returns per window/limit."""
    tokens, stamp, now = None, None, 0.0
    verdicts = []
    for _ in range(6):
        verdict, tokens = token_bucket(tokens, stamp, now, FIVE_A_MINUTE)
        stamp = now
        verdicts.append(verdict.allowed)

    refilled, _ = token_bucket(tokens, stamp, 12_000.0, FIVE_A_MINUTE)

    assert verdicts == [True] * 5 + [False]
    assert refilled.allowed
    assert refilled.remaining == 0


def test_token_bucket_never_holds_more_than_its_capacity() -> None:
    """A day of idleness refills the bucket to its capacity, not beyond."""

    verdict, level = token_bucket(0.0, 0.0, 86_400_000.0, FIVE_A_MINUTE)

    assert verdict.remaining == 4
    assert level == 4.0


def test_token_bucket_refusal_says_when_the_next_token_comes() -> None:
    """Half a token in hand: the wait is the other half's refill time."""

    verdict, _ = token_bucket(0.5, 0.0, 0.0, FIVE_A_MINUTE)

    assert not verdict.allowed
    assert verdict.reset_ms == 6_000


def test_fixed_window_counts_per_aligned_window_and_forgets_the_last() -> None:
    """A count of an earlier window does not count in this one."""

    full = fixed_window(1, 5, 119_000.0, FIVE_A_MINUTE)
    fresh = fixed_window(1, 5, 120_000.0, FIVE_A_MINUTE)

    assert full[0] == Verdict(False, 0, 1_000)
    assert fresh[0] == Verdict(True, 4, 60_000)
    assert fresh[1:] == (2, 1)
