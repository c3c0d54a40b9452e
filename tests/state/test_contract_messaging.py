"""The state contract, part three: pub/sub and streams with consumer groups.

Runs on memory and on a real Redis. The stream tests follow the job queue's
life: entries added, shared out within a group, acknowledged, and taken over
from a consumer that went quiet.
"""

from __future__ import annotations

import asyncio

import pytest

from agentos import errors
from agentos.state import StateStore
from tests.fixtures.state import PassTime

# -- pub/sub -----------------------------------------------------------------


async def test_a_published_message_reaches_every_subscriber(state: StateStore) -> None:
    """Each subscriber of the channel receives the message once."""
    async with state.subscribe("news") as first, state.subscribe("news") as second:
        receivers = await state.publish("news", "hello")
        got = [await asyncio.wait_for(anext(inbox), 2) for inbox in (first, second)]

    assert receivers == 2
    assert got == [b"hello", b"hello"]


async def test_a_subscriber_hears_only_its_own_channel(state: StateStore) -> None:
    """Messages on other channels do not reach the subscriber."""
    async with state.subscribe("news") as inbox:
        await state.publish("sport", "goal")
        await state.publish("news", "rain")
        got = await asyncio.wait_for(anext(inbox), 2)

    assert got == b"rain"


async def test_nobody_receives_after_the_subscription_ends(state: StateStore) -> None:
    """Leaving the ``async with`` unsubscribes."""
    async with state.subscribe("news"):
        pass

    assert await state.publish("news", "anyone?") == 0


# -- streams: adding and reading ---------------------------------------------


async def test_two_consumers_of_one_group_get_distinct_entries(
    state: StateStore,
) -> None:
    """A group shares the entries out: no entry goes to two consumers."""
    await state.xgroup_create("jobs", "agents")
    added = [await state.xadd("jobs", {"job": str(n)}) for n in range(4)]

    first = await state.xreadgroup("agents", "a1", "jobs", count=2)
    second = await state.xreadgroup("agents", "a2", "jobs", count=5)
    third = await state.xreadgroup("agents", "a1", "jobs", count=5)

    assert [entry_id for entry_id, _ in first + second] == added
    assert [fields["job"] for _, fields in first + second] == ["0", "1", "2", "3"]
    assert third == []


async def test_every_group_reads_the_whole_stream(state: StateStore) -> None:
    """Two groups each see every entry, independently of one another."""
    await state.xadd("jobs", {"job": "1"})
    await state.xgroup_create("jobs", "agents")
    await state.xgroup_create("jobs", "auditors")

    agents = await state.xreadgroup("agents", "a1", "jobs", count=5)
    auditors = await state.xreadgroup("auditors", "u1", "jobs", count=5)

    assert agents == auditors
    assert len(agents) == 1


async def test_creating_a_group_twice_reports_that_it_exists(state: StateStore) -> None:
    """The second creation of a group is refused gently with ``False``."""
    assert await state.xgroup_create("jobs", "agents") is True
    assert await state.xgroup_create("jobs", "agents") is False
    assert await state.xlen("jobs") == 0


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.xreadgroup("nobody", "c", "jobs"), id="read"),
        pytest.param(lambda s: s.xpending_count("jobs", "nobody"), id="pending"),
        pytest.param(
            lambda s: s.xautoclaim("jobs", "nobody", "c", min_idle_ms=0), id="claim"
        ),
        pytest.param(lambda s: s.xreadgroup("g", "c", "no-stream"), id="no-stream"),
    ],
)
async def test_using_a_group_that_does_not_exist_is_refused(
    state: StateStore, call: object
) -> None:
    """A missing group is a bug in the caller, not an outage."""
    await state.xadd("jobs", {"job": "1"})

    with pytest.raises(errors.AgentOSError, match="group") as caught:
        await call(state)  # type: ignore[operator]

    assert not isinstance(caught.value, errors.DependencyDown)


async def test_maxlen_keeps_only_the_newest_entries(state: StateStore) -> None:
    """Adding with ``maxlen`` drops the oldest entries beyond it."""
    for n in range(5):
        await state.xadd("events", {"n": str(n)}, maxlen=3)
    await state.xgroup_create("events", "readers")

    entries = await state.xreadgroup("readers", "r", "events", count=10)

    assert await state.xlen("events") == 3
    assert [fields["n"] for _, fields in entries] == ["2", "3", "4"]


async def test_xdel_removes_entries_by_id(state: StateStore) -> None:
    """Deleting entries shortens the stream; unknown ids count for nothing."""
    kept = await state.xadd("events", {"n": "1"})
    gone = await state.xadd("events", {"n": "2"})

    removed = await state.xdel("events", gone, "1-0")

    assert removed == 1
    assert await state.xlen("events") == 1
    assert await state.xlen("no-such-stream") == 0
    await state.xgroup_create("events", "readers")
    assert await state.xreadgroup("readers", "r", "events", count=5) == [
        (kept, {"n": "1"})
    ]


# -- streams: acknowledging and claiming -------------------------------------


async def test_acked_entries_leave_the_pending_list(state: StateStore) -> None:
    """Delivered entries stay pending until acknowledged, once each."""
    await state.xgroup_create("jobs", "agents")
    first = await state.xadd("jobs", {"job": "1"})
    await state.xadd("jobs", {"job": "2"})
    await state.xreadgroup("agents", "a1", "jobs", count=2)
    pending_before = await state.xpending_count("jobs", "agents")

    acked = await state.xack("jobs", "agents", first, first)

    assert (pending_before, acked) == (2, 1)
    assert await state.xpending_count("jobs", "agents") == 1
    assert await state.xack("jobs", "agents", first) == 0
    assert await state.xack("jobs", "no-group", first) == 0


async def test_autoclaim_hands_an_idle_entry_to_another_consumer(
    state: StateStore, pass_time: PassTime
) -> None:
    """An entry whose consumer went quiet is taken over once it idled enough."""
    await state.xgroup_create("jobs", "agents")
    entry_id = await state.xadd("jobs", {"job": "1"})
    await state.xreadgroup("agents", "dead", "jobs")
    too_soon = await state.xautoclaim("jobs", "agents", "alive", min_idle_ms=300)

    await pass_time(0.35)
    claimed = await state.xautoclaim("jobs", "agents", "alive", min_idle_ms=300)
    claimed_again = await state.xautoclaim("jobs", "agents", "other", min_idle_ms=300)

    assert too_soon == []
    assert claimed == [(entry_id, {"job": "1"})]
    assert claimed_again == []
    assert await state.xack("jobs", "agents", entry_id) == 1
    assert await state.xpending_count("jobs", "agents") == 0


async def test_autoclaim_skips_entries_deleted_while_pending(
    state: StateStore, pass_time: PassTime
) -> None:
    """A pending entry deleted from the stream is not handed out again."""
    await state.xgroup_create("jobs", "agents")
    gone = await state.xadd("jobs", {"job": "1"})
    kept = await state.xadd("jobs", {"job": "2"})
    await state.xreadgroup("agents", "dead", "jobs", count=2)
    await state.xdel("jobs", gone)
    await pass_time(0.05)

    claimed = await state.xautoclaim("jobs", "agents", "alive", min_idle_ms=10)

    assert claimed == [(kept, {"job": "2"})]


# -- streams: blocking reads -------------------------------------------------


async def test_a_blocking_read_wakes_when_an_entry_arrives(state: StateStore) -> None:
    """A consumer waiting on an empty stream gets the next entry at once."""
    await state.xgroup_create("jobs", "agents")
    reader = asyncio.create_task(
        state.xreadgroup("agents", "a1", "jobs", block_ms=5000)
    )
    await asyncio.sleep(0.1)

    entry_id = await state.xadd("jobs", {"job": "1"})

    assert await asyncio.wait_for(reader, 2) == [(entry_id, {"job": "1"})]


async def test_a_blocking_read_returns_nothing_when_its_wait_ends(
    state: StateStore,
) -> None:
    """Without new entries the read returns an empty list after ``block_ms``."""
    await state.xgroup_create("jobs", "agents")
    loop = asyncio.get_running_loop()
    started = loop.time()

    entries = await state.xreadgroup("agents", "a1", "jobs", block_ms=200)

    assert entries == []
    assert loop.time() - started >= 0.19


async def test_a_blocking_read_outlasts_the_redis_read_timeout(
    state: StateStore,
) -> None:
    """A wait longer than one second (the socket timeout) still ends in an entry."""
    await state.xgroup_create("jobs", "agents")
    reader = asyncio.create_task(state.xreadgroup("agents", "a1", "jobs", block_ms=0))
    await asyncio.sleep(1.3)

    entry_id = await state.xadd("jobs", {"job": "late"})

    assert await asyncio.wait_for(reader, 2) == [(entry_id, {"job": "late"})]
