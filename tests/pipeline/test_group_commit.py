"""Group commit: batches, and how a failure reaches the callers of a batch."""

from __future__ import annotations

import asyncio

import pytest

from agentos import errors
from agentos.pipeline.group_commit import Failed, GroupCommit


async def test_concurrent_items_are_committed_in_one_batch() -> None:
    """Items queued while the task waits go to one commit, each gets its result."""
    batches: list[list[int]] = []

    async def commit(items: list[int]) -> list[int | Failed[int]]:
        batches.append(items)
        return [item * 10 for item in items]

    lane: GroupCommit[int, int] = GroupCommit("test", commit, window_seconds=0.001)
    lane.start()
    results = await asyncio.gather(*(lane.submit(n) for n in range(5)))
    await lane.close()

    assert results == [0, 10, 20, 30, 40]
    assert batches == [[0, 1, 2, 3, 4]]


async def test_a_failed_result_fails_its_item_alone() -> None:
    """The other items of the batch keep their results."""

    async def commit(items: list[int]) -> list[int | Failed[int]]:
        return [Failed(errors.DependencyDown("no")) if n == 2 else n for n in items]

    lane: GroupCommit[int, int] = GroupCommit("test", commit, window_seconds=0.001)
    lane.start()
    results = await asyncio.gather(
        *(lane.submit(n) for n in range(4)), return_exceptions=True
    )
    await lane.close()

    assert results[:2] == [0, 1]
    assert isinstance(results[2], errors.DependencyDown)
    assert results[3] == 3


async def test_a_raising_commit_fails_the_batch_and_the_lane_lives_on() -> None:
    """Every item of the failed batch raises; the next batch is committed."""
    calls = 0

    async def commit(items: list[int]) -> list[int | Failed[int]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise errors.DependencyDown("down")
        return list(items)

    lane: GroupCommit[int, int] = GroupCommit("test", commit, window_seconds=0.001)
    lane.start()
    first = await asyncio.gather(
        *(lane.submit(n) for n in range(3)), return_exceptions=True
    )
    second = await lane.submit(7)
    await lane.close()

    assert all(isinstance(r, errors.DependencyDown) for r in first)
    assert second == 7


async def test_close_commits_what_is_queued_then_refuses() -> None:
    """Queued items are written on close; later submits are refused."""
    seen: list[int] = []

    async def commit(items: list[int]) -> list[int | Failed[int]]:
        seen.extend(items)
        return list(items)

    lane: GroupCommit[int, int] = GroupCommit("test", commit, window_seconds=0.05)
    lane.start()
    pending = asyncio.ensure_future(lane.submit(1))
    await asyncio.sleep(0)
    await lane.close()

    assert await pending == 1
    assert seen == [1]
    with pytest.raises(errors.DependencyDown):
        await lane.submit(2)
