"""The rate limiter on both state backends: actions, tiers, refusals, resets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from agentos.errors import RateLimited
from agentos.pipeline.ratelimit import RateLimiter, load_rate_limits
from agentos.services.base import Principal
from agentos.state import StateStore

REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Action:
    """The two facts of an action spec that the limiter reads."""

    name: str
    rate_class: str


ALICE = Principal("alice", ("admin",))
BOB = Principal("bob", ("admin",))
BACKUP = Action("system.backup", "critical")
CANCEL = Action("job.cancel", "standard")


@pytest.fixture
def limiter(state: StateStore) -> RateLimiter:
    """A limiter with the shipped policies."""
    return RateLimiter(state, load_rate_limits(REPO / "policies"))


async def test_a_critical_action_allows_five_calls_a_minute_then_429(
    limiter: RateLimiter,
) -> None:
    """The sixth call is refused with Retry-After and both RateLimit fields."""
    for _ in range(5):
        (await limiter.check(ALICE, BACKUP)).raise_if_limited()

    sixth = await limiter.check(ALICE, BACKUP)

    with pytest.raises(RateLimited) as caught:
        sixth.raise_if_limited()
    error = caught.value
    assert (error.status, error.error_code) == (429, "RATE_LIMITED")
    assert 55 <= int(error.headers["Retry-After"]) <= 60
    assert error.headers["RateLimit-Policy"] == (
        '"admin_action";q=58;w=60, "critical";q=5;w=60'
    )
    assert error.headers["RateLimit"].startswith('"admin_action";r=53;')
    assert [detail["policy"] for detail in error.details] == ["critical"]


async def test_counters_are_per_user_and_per_action(limiter: RateLimiter) -> None:
    """Alice's spent backups leave her cancels and Bob's backups alone."""
    for _ in range(5):
        await limiter.check(ALICE, BACKUP)

    alice_cancel = await limiter.check(ALICE, CANCEL)
    bob_backup = await limiter.check(BOB, BACKUP)

    assert alice_cancel.allowed and alice_cancel.verdicts[1].remaining == 49
    assert bob_backup.allowed and bob_backup.verdicts[1].remaining == 4


async def test_a_refused_action_does_not_spend_the_admin_tier(
    limiter: RateLimiter,
) -> None:
    """The admin_action tier keeps the unit of a call its class refused."""
    for _ in range(5):
        await limiter.check(ALICE, BACKUP)

    for _ in range(3):
        await limiter.check(ALICE, BACKUP)
    cancel = await limiter.check(ALICE, CANCEL)

    assert cancel.verdicts[0].remaining == 58 - 5 - 1


async def test_the_admin_tier_caps_all_actions_of_one_user(
    limiter: RateLimiter,
) -> None:
    """58 calls of any actions spend the tier; the next is refused by it."""
    actions = [Action(f"job.a{index}", "standard") for index in range(58)]
    for action in actions:
        (await limiter.check(ALICE, action)).raise_if_limited()

    refused = await limiter.check(ALICE, Action("job.other", "standard"))

    assert [quota.name for quota in refused.refused_by] == ["admin_action"]


async def test_a_tier_counts_per_subject_or_per_address(limiter: RateLimiter) -> None:
    """The user tier follows the subject; public follows the address."""
    await limiter.check_tier("user", subject="alice", client_ip="10.0.0.1")
    same_user = await limiter.check_tier("user", subject="alice", client_ip="10.0.0.2")
    await limiter.check_tier("public", client_ip="10.0.0.1")
    other_ip = await limiter.check_tier("public", client_ip="2001:db8::1")

    assert same_user.verdicts[0].remaining == 117 - 2
    assert other_ip.verdicts[0].remaining == 12 - 1


async def test_reset_clears_a_users_counters(limiter: RateLimiter) -> None:
    """After reset the user's action is allowed again at full quota."""
    for _ in range(6):
        await limiter.check(ALICE, BACKUP)

    removed = await limiter.reset(subject="alice")
    after = await limiter.check(ALICE, BACKUP)

    assert removed == 2
    assert after.allowed and after.verdicts[1].remaining == 4


async def test_reset_clears_an_address_counters(limiter: RateLimiter) -> None:
    """The public tier of an address starts afresh after its reset."""
    for _ in range(12):
        await limiter.check_tier("public", client_ip="192.0.2.9")

    await limiter.reset(client_ip="192.0.2.9")
    after = await limiter.check_tier("public", client_ip="192.0.2.9")

    assert after.allowed and after.verdicts[0].remaining == 11


async def test_a_disabled_limiter_allows_everything_and_says_nothing(
    state: StateStore,
) -> None:
    """Switched off, no call is counted and no header is added."""
    limiter = RateLimiter(state, load_rate_limits(REPO / "policies"), enabled=False)

    decisions = [await limiter.check(ALICE, BACKUP) for _ in range(10)]

    assert all(decision.allowed for decision in decisions)
    assert decisions[-1].headers == {}
    assert await state.keys("rl:") == []
