"""What only the in-memory state does: one worker, its own clock, its sweep."""

from __future__ import annotations

import asyncio
import math

import pytest

from agentos import errors
from agentos.state import MemoryState, Script, memory
from agentos.state.keyspace import SWEEP_LIMIT
from tests.fixtures.state import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """A hand-moved clock at a round time."""
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def state(clock: ManualClock) -> MemoryState:
    """An in-memory state on the manual clock (shadows the two-backend fixture)."""
    return MemoryState(clock=clock)


def test_one_worker_is_accepted(state: MemoryState) -> None:
    """A single worker can use the in-memory state."""
    state.check_workers(1)


def test_more_than_one_worker_is_refused_with_the_fix(state: MemoryState) -> None:
    """Several workers would each keep their own state; the error says what to set."""
    with pytest.raises(errors.ConfigError, match="AGENTOS_REDIS_URL") as caught:
        state.check_workers(4)

    assert "4 workers" in str(caught.value)


async def test_ttl_follows_the_injected_clock(
    state: MemoryState, clock: ManualClock
) -> None:
    """Expiry reads the clock it was given, to the millisecond."""
    await state.set("k", "v", ttl=10)

    clock.advance(4)
    left = await state.ttl("k")
    clock.advance(6)

    assert left == pytest.approx(6)
    assert await state.get("k") is None


async def test_expired_keys_nobody_reads_are_swept_by_later_writes(
    state: MemoryState, clock: ManualClock
) -> None:
    """Writes drop expired keys in bounded batches, so memory does not grow."""
    for n in range(500):
        await state.set(f"idle:{n}", n, ttl=1)
    clock.advance(2)
    writes = math.ceil(500 / SWEEP_LIMIT)

    for n in range(writes):
        await state.set(f"fresh:{n}", n)

    assert len(state.view) == writes


async def test_the_sweep_spares_a_key_whose_expiry_was_pushed_out(
    state: MemoryState, clock: ManualClock
) -> None:
    """An outdated deadline in the sweep's heap does not drop the key."""
    await state.set("heartbeat", "1", ttl=1)
    await state.expire("heartbeat", 10)
    clock.advance(2)

    await state.set("other", "x")

    assert len(state.view) == 2
    assert await state.get("heartbeat") == b"1"


async def test_stream_ids_keep_rising_when_the_clock_stands_still_or_steps_back(
    state: MemoryState, clock: ManualClock
) -> None:
    """Ids are clock milliseconds plus a sequence that breaks ties."""
    first = await state.xadd("s", {"n": "1"})
    second = await state.xadd("s", {"n": "2"})
    clock.advance(-5)
    third = await state.xadd("s", {"n": "3"})

    assert first == "1800000000000-0"
    assert second == "1800000000000-1"
    assert third == "1800000000000-2"


async def test_a_subscriber_that_falls_behind_loses_newer_messages_only(
    state: MemoryState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full backlog drops what does not fit, for that subscriber alone."""
    monkeypatch.setattr(memory, "SUBSCRIBER_BACKLOG", 2)

    async with state.subscribe("news") as inbox:
        receivers = [await state.publish("news", str(n)) for n in range(4)]
        got = [await asyncio.wait_for(anext(inbox), 1) for _ in range(2)]

    assert receivers == [1, 1, 1, 1]
    assert got == [b"0", b"1"]


async def test_a_script_twin_sees_the_keyspace_and_the_clock(
    state: MemoryState,
) -> None:
    """The Python twin gets the view, keys, string arguments and the time."""
    seen = []
    probe = Script("test.probe", "", lambda *call: seen.append(call))

    await state.run(probe, ["k"], [1, 2.5, b"x"])

    view, keys, args, now = seen[0]
    assert view is state.view
    assert (keys, args, now) == (["k"], ["1", "2.5", "x"], 1_800_000_000.0)


async def test_a_blocking_read_waits_on_real_time_not_the_manual_clock(
    state: MemoryState,
) -> None:
    """``block_ms`` is a real wait: a stopped clock does not make it endless."""
    await state.xgroup_create("s", "g")

    entries = await asyncio.wait_for(
        state.xreadgroup("g", "c", "s", block_ms=50), timeout=1
    )

    assert entries == []
