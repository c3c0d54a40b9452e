"""The state contract, part two: locks, on memory and on a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from agentos import errors
from agentos.state import MemoryState, StateStore
from tests.fixtures.state import PassTime


async def test_a_held_lock_excludes_every_other_owner(state: StateStore) -> None:
    """While one owner holds the lock, another cannot take it."""
    first, second = state.lock("warmer", ttl=10), state.lock("warmer", ttl=10)

    took_first = await first.acquire(blocking=False)
    took_second = await second.acquire(blocking=False)

    assert (took_first, took_second) == (True, False)


async def test_locks_with_different_names_are_independent(state: StateStore) -> None:
    """Holding one lock says nothing about a lock of another name."""
    await state.lock("a", ttl=10).acquire(blocking=False)

    assert await state.lock("b", ttl=10).acquire(blocking=False) is True


async def test_an_expired_lock_can_be_taken_by_another_owner(
    state: StateStore, pass_time: PassTime
) -> None:
    """An owner that stops (crashes) keeps others out only for the TTL."""
    await state.lock("warmer", ttl=0.3).acquire(blocking=False)

    await pass_time(0.4)

    assert await state.lock("warmer", ttl=10).acquire(blocking=False) is True


async def test_only_the_owner_releases_the_lock(
    state: StateStore, pass_time: PassTime
) -> None:
    """An owner whose lock expired cannot release the next owner's lock."""
    stale, current = state.lock("chain", ttl=0.3), state.lock("chain", ttl=10)
    await stale.acquire(blocking=False)
    await pass_time(0.4)
    await current.acquire(blocking=False)

    released_by_stale = await stale.release()

    assert released_by_stale is False
    assert await state.lock("chain", ttl=10).acquire(blocking=False) is False
    assert await current.release() is True
    assert await state.lock("chain", ttl=10).acquire(blocking=False) is True


async def test_extend_keeps_the_lock_past_its_first_ttl(
    state: StateStore, pass_time: PassTime
) -> None:
    """The owner can push the expiry out; a stranger cannot."""
    owner, stranger = state.lock("job", ttl=0.3), state.lock("job", ttl=10)
    await owner.acquire(blocking=False)

    extended = await owner.extend(10)
    await pass_time(0.4)

    assert extended is True
    assert await stranger.acquire(blocking=False) is False
    assert await stranger.extend(10) is False


async def test_extend_fails_once_the_lock_was_lost(
    state: StateStore, pass_time: PassTime
) -> None:
    """Extending a lock that expired and went to another owner fails."""
    owner = state.lock("job", ttl=0.3)
    await owner.acquire(blocking=False)
    await pass_time(0.4)
    await state.lock("job", ttl=10).acquire(blocking=False)

    assert await owner.extend(10) is False


async def test_a_waiting_acquirer_gets_the_lock_when_it_is_released(
    state: StateStore,
) -> None:
    """A blocking acquire succeeds as soon as the holder lets go."""
    holder = state.lock("deploy", ttl=10)
    await holder.acquire(blocking=False)
    waiter = asyncio.create_task(state.lock("deploy", ttl=10).acquire(timeout=5))
    await asyncio.sleep(0.05)

    await holder.release()

    assert await asyncio.wait_for(waiter, 2) is True


async def test_a_blocking_acquire_gives_up_after_its_timeout(state: StateStore) -> None:
    """Waiting for a lock that stays held ends with ``False`` at the timeout."""
    await state.lock("deploy", ttl=10).acquire(blocking=False)

    took = await state.lock("deploy", ttl=10).acquire(timeout=0.2)

    assert took is False


async def test_async_with_holds_the_lock_inside_and_frees_it_after(
    state: StateStore,
) -> None:
    """The context manager takes the lock on entry and releases it on exit."""
    async with state.lock("audit-chain", ttl=10):
        held_inside = not await state.lock("audit-chain", ttl=10).acquire(
            blocking=False
        )

    assert held_inside is True
    assert await state.lock("audit-chain", ttl=10).acquire(blocking=False) is True


async def test_async_with_raises_conflict_when_the_wait_runs_out(
    state: StateStore,
) -> None:
    """Entering a lock held elsewhere past ``wait`` is a retryable conflict."""
    await state.lock("audit-chain", ttl=10).acquire(blocking=False)

    with pytest.raises(errors.Conflict, match="audit-chain"):
        async with state.lock("audit-chain", ttl=10, wait=0.1):
            pytest.fail("the body must not run without the lock")


async def test_release_without_holding_reports_false(state: StateStore) -> None:
    """Releasing a lock never taken does nothing and says so."""
    assert await state.lock("never", ttl=10).release() is False


def test_a_lock_with_a_ttl_that_is_not_positive_is_refused() -> None:
    """A lock that would never expire, or already has, is a caller bug."""
    with pytest.raises(ValueError, match="positive"):
        MemoryState().lock("x", ttl=0)
