"""Circuit breakers: the decisions as plain functions, the scripts on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentos.errors import (
    AgentOSError,
    CircuitOpen,
    ConfigError,
    Conflict,
    DependencyDown,
)
from agentos.pipeline.breaker import (
    TRANSITIONS,
    BreakerPolicies,
    BreakerPolicy,
    Breakers,
    Event,
    Outcome,
    Snapshot,
    State,
    classify,
    evaluate,
    load_policies,
    slide,
)
from agentos.state.base import StateStore
from tests.fixtures.state import PassTime

POLICY = BreakerPolicy(
    window_size=4,
    minimum_calls=4,
    failure_rate_threshold=50,
    slow_call_rate_threshold=100,
    slow_call_seconds=1,
    open_seconds=1,
    half_open_calls=2,
    trial_timeout_seconds=0.5,
)


# -- plain decisions -------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "seconds", "expected"),
    [
        pytest.param(None, 0.1, Outcome.OK, id="ok"),
        pytest.param(None, 2, Outcome.SLOW, id="slow"),
        pytest.param(Conflict(), 0.1, Outcome.OK, id="business-refusal"),
        pytest.param(AgentOSError(), 0.1, Outcome.FAILED, id="internal-error"),
        pytest.param(DependencyDown(), 0.1, Outcome.FAILED, id="dependency-down"),
        pytest.param(RuntimeError(), 2, Outcome.SLOW_FAILED, id="slow-crash"),
    ],
)
def test_only_the_services_own_failures_count(
    error: BaseException | None, seconds: float, expected: Outcome
) -> None:
    """A refusal below 500 is a correct answer, not a failure."""

    assert classify(error, seconds, POLICY) is expected


@pytest.mark.parametrize(
    ("state", "window", "expected"),
    [
        pytest.param(State.CLOSED, "111", None, id="below-minimum-calls"),
        pytest.param(State.CLOSED, "0011", Event.RATE_EXCEEDED, id="half-failed"),
        pytest.param(State.CLOSED, "0001", None, id="quarter-failed"),
        pytest.param(State.CLOSED, "2222", Event.RATE_EXCEEDED, id="all-slow"),
        pytest.param(State.HALF_OPEN, "0", None, id="trials-pending"),
        pytest.param(State.HALF_OPEN, "00", Event.TRIALS_PASSED, id="trials-passed"),
        pytest.param(State.HALF_OPEN, "01", Event.TRIALS_FAILED, id="trials-failed"),
    ],
)
def test_evaluate_window(state: State, window: str, expected: Event | None) -> None:
    """Rates decide only with enough outcomes in the window."""

    assert evaluate(state, window, POLICY) is expected


def test_window_slides_over_the_oldest_outcome() -> None:
    """A full ring replaces its oldest mark first."""
    window, pos = "", 0
    for mark in "0001":
        window, pos = slide(window, pos, mark, 4)

    window, pos = slide(window, pos, "1", 4)

    assert (window, pos) == ("1001", 1)


def test_every_state_can_be_tripped_and_reset() -> None:
    """Operators may force any state open or closed."""

    for state in State:
        assert TRANSITIONS[(state, Event.TRIP)] is State.OPEN
        assert TRANSITIONS[(state, Event.RESET)] is State.CLOSED


def test_policies_merge_service_overrides_over_defaults(tmp_path: Path) -> None:
    """A service's overrides replace only the fields they name."""
    (tmp_path / "breakers.yaml").write_text(
        "defaults: {window_size: 50}\nservices:\n  jobs: {open_seconds: 5}\n"
    )

    policies = load_policies(tmp_path)

    assert policies.for_service("jobs").open_seconds == 5
    assert policies.for_service("jobs").window_size == 50
    assert policies.for_service("queue").open_seconds == BreakerPolicy().open_seconds


def test_the_shipped_policy_file_loads() -> None:
    """policies/breakers.yaml is valid and its defaults are the documented ones."""

    policies = load_policies(Path(__file__).resolve().parents[2] / "policies")

    assert policies.defaults == BreakerPolicy()


def test_a_bad_policy_file_stops_the_start(tmp_path: Path) -> None:
    """An unknown key or an out-of-range value is a ConfigError naming the file."""
    (tmp_path / "breakers.yaml").write_text("services:\n  jobs: {window_siz: 5}\n")

    with pytest.raises(ConfigError, match=r"breakers\.yaml"):
        load_policies(tmp_path)


# -- the scripts on both backends -----------------------------------------


@pytest.fixture
def transitions() -> list[tuple[str, str, bool]]:
    """Every transition the breakers announce: service, verb, forced."""
    return []


@pytest.fixture
def breakers(state: StateStore, transitions: list[tuple[str, str, bool]]) -> Breakers:
    """Breakers on ``state`` with the small test policy and no local cache."""

    async def seen(snapshot: Snapshot, forced: bool) -> None:
        transitions.append((snapshot.service, snapshot.transition, forced))

    policies = BreakerPolicies(defaults=POLICY)
    return Breakers(
        state, policies, cache_seconds=0, flush_seconds=0, on_transition=seen
    )


async def _fail(breakers: Breakers, service: str, times: int) -> None:
    for _ in range(times):
        permit = await breakers.acquire(service)
        await breakers.record(permit, RuntimeError("boom"))


async def _succeed(breakers: Breakers, service: str, times: int) -> None:
    for _ in range(times):
        permit = await breakers.acquire(service)
        await breakers.record(permit, None)


async def test_failures_open_the_breaker_and_calls_are_refused(
    breakers: Breakers, transitions: list[tuple[str, str, bool]]
) -> None:
    """Half the window failing opens it; the next call gets 503 with Retry-After."""
    await _succeed(breakers, "jobs", 2)

    await _fail(breakers, "jobs", 2)

    with pytest.raises(CircuitOpen) as caught:
        await breakers.acquire("jobs")
    assert caught.value.headers["Retry-After"] == "1"
    assert transitions == [("jobs", "opened", False)]
    assert (await breakers.snapshot("jobs")).state is State.OPEN


async def test_business_refusals_never_open_it(breakers: Breakers) -> None:
    """A service that keeps answering 409 stays CLOSED."""

    for _ in range(8):
        permit = await breakers.acquire("jobs")
        await breakers.record(permit, Conflict("already finished"))

    assert (await breakers.snapshot("jobs")).state is State.CLOSED


async def test_services_do_not_share_a_breaker(breakers: Breakers) -> None:
    """The queue breaker stays closed while the jobs breaker opens."""

    await _fail(breakers, "jobs", 4)

    assert (await breakers.snapshot("jobs")).state is State.OPEN
    assert isinstance(await breakers.acquire("queue"), object)
    assert (await breakers.snapshot("queue")).state is State.CLOSED


async def test_half_open_trials_close_it_again(
    breakers: Breakers, pass_time: PassTime, transitions: list[tuple[str, str, bool]]
) -> None:
    """After the wait, good trials close the breaker; extra calls wait meanwhile."""
    await _fail(breakers, "jobs", 4)
    await pass_time(1.1)

    first = await breakers.acquire("jobs")
    second = await breakers.acquire("jobs")
    with pytest.raises(CircuitOpen):
        await breakers.acquire("jobs")
    await breakers.record(first, None)
    await breakers.record(second, None)

    assert (await breakers.snapshot("jobs")).state is State.CLOSED
    verbs = [verb for _, verb, _ in transitions]
    assert verbs == ["opened", "half_opened", "closed"]


async def test_a_failed_trial_reopens_it(
    breakers: Breakers, pass_time: PassTime
) -> None:
    """One bad trial out of two is a 50% failure rate: OPEN again."""
    await _fail(breakers, "jobs", 4)
    await pass_time(1.1)

    await _succeed(breakers, "jobs", 1)
    await _fail(breakers, "jobs", 1)

    assert (await breakers.snapshot("jobs")).state is State.OPEN


async def test_a_hung_trial_does_not_keep_it_half_open(
    breakers: Breakers, pass_time: PassTime
) -> None:
    """A trial permit expires, another trial runs, the hung outcome is ignored."""
    await _fail(breakers, "jobs", 4)
    await pass_time(1.1)
    hung = await breakers.acquire("jobs")
    await _succeed(breakers, "jobs", 1)
    with pytest.raises(CircuitOpen):
        await breakers.acquire("jobs")

    await pass_time(0.6)
    await _succeed(breakers, "jobs", 1)
    await breakers.record(hung, RuntimeError("finally failed"))

    assert (await breakers.snapshot("jobs")).state is State.CLOSED


async def test_outcomes_of_an_older_generation_are_ignored(breakers: Breakers) -> None:
    """Calls begun before the breaker opened cannot move it afterwards."""
    early = [await breakers.acquire("jobs") for _ in range(4)]
    await _fail(breakers, "jobs", 4)
    await breakers.reset("jobs")

    for permit in early:
        await breakers.record(permit, RuntimeError("late"))

    assert (await breakers.snapshot("jobs")).state is State.CLOSED


async def test_trip_and_reset_are_announced_as_forced(
    breakers: Breakers, transitions: list[tuple[str, str, bool]]
) -> None:
    """An operator's trip opens it for the given time; reset closes it."""

    tripped = await breakers.trip("jobs", 120)
    with pytest.raises(CircuitOpen) as caught:
        await breakers.acquire("jobs")
    reset = await breakers.reset("jobs")

    assert tripped.state is State.OPEN
    assert 110 <= int(caught.value.headers["Retry-After"]) <= 120
    assert reset.state is State.CLOSED
    assert transitions == [("jobs", "tripped", True), ("jobs", "reset", True)]


async def test_call_runs_work_under_the_breaker(breakers: Breakers) -> None:
    """``call`` returns the work's result and counts its failures."""

    assert await breakers.call("jobs", _answer) == 42
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await breakers.call("jobs", _crash)
    with pytest.raises(CircuitOpen):
        await breakers.call("jobs", _answer)


async def test_cached_closed_state_skips_the_round_trip_until_it_ages(
    state: StateStore,
) -> None:
    """A worker caching CLOSED learns of another's OPEN at its next record."""
    policies = BreakerPolicies(defaults=POLICY)
    mine = Breakers(state, policies, cache_seconds=60, flush_seconds=0)
    other = Breakers(state, policies, cache_seconds=60, flush_seconds=0)
    await _succeed(mine, "jobs", 1)

    await _fail(other, "jobs", 3)
    passed = await mine.acquire("jobs")
    await mine.record(passed, None)

    with pytest.raises(CircuitOpen):
        await mine.acquire("jobs")


async def _answer() -> int:
    await asyncio.sleep(0)
    return 42


async def _crash() -> int:
    raise RuntimeError("boom")


async def test_held_back_successes_reach_the_window_in_order(state: StateStore) -> None:
    """Successes wait for the next failure and are counted before it."""
    policies = BreakerPolicies(defaults=POLICY)
    breakers = Breakers(state, policies, cache_seconds=60, flush_seconds=60)
    await _succeed(breakers, "jobs", 2)
    assert (await breakers.snapshot("jobs")).state is State.CLOSED

    await _fail(breakers, "jobs", 1)
    still_closed = await breakers.snapshot("jobs")
    await _fail(breakers, "jobs", 1)

    assert still_closed.state is State.CLOSED
    assert (await breakers.snapshot("jobs")).state is State.OPEN


async def test_successes_alone_are_reported_on_a_timer_and_at_close(
    state: StateStore,
) -> None:
    """Held successes reach the store: with them two failures fill the window."""
    policies = BreakerPolicies(defaults=POLICY)
    timed = Breakers(state, policies, cache_seconds=60, flush_seconds=0.05)
    closing = Breakers(state, policies, cache_seconds=60, flush_seconds=60)
    other = Breakers(state, policies, cache_seconds=0, flush_seconds=0)
    await _succeed(timed, "jobs", 2)
    await _succeed(closing, "queue", 2)

    await asyncio.sleep(0.2)
    await closing.close()
    await _fail(other, "jobs", 2)
    await _fail(other, "queue", 2)

    assert (await other.snapshot("jobs")).state is State.OPEN
    assert (await other.snapshot("queue")).state is State.OPEN
    await timed.close()
