"""The queue's score arithmetic, and its scripts on memory and on Redis."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from agentos.services import queue_scripts as qs
from agentos.state import StateStore

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_higher_priority_sorts_first_whatever_the_age() -> None:
    """A priority 9 job enqueued years later still goes before a priority 8 one."""
    assert qs.score(9, T0 + timedelta(days=3650)) < qs.score(8, T0)


def test_within_a_priority_the_older_job_sorts_first() -> None:
    """Age breaks ties within one priority, to the millisecond."""
    assert qs.score(5, T0) < qs.score(5, T0 + timedelta(milliseconds=1))


@pytest.mark.parametrize("priority", range(10))
def test_a_score_gives_back_its_priority_and_time(priority: int) -> None:
    """Priority and enqueue time can be read back from a score exactly."""
    value = qs.score(priority, T0)

    assert qs.priority_of(value) == priority
    assert qs.queued_ms_of(value) == int(T0.timestamp() * 1000)
    assert value < 2**53


def test_band_bounds_cover_each_priority_without_overlap() -> None:
    """Each priority's score band holds its scores and no other's."""
    bounds = qs.band_bounds()
    pairs = list(zip(bounds[::2], bounds[1::2], strict=True))

    for priority, (low, high) in zip(range(9, -1, -1), pairs, strict=True):
        assert low <= qs.score(priority, T0) <= high
    assert all(a[1] < b[0] for a, b in itertools.pairwise(pairs))


async def _enqueue(state: StateStore, job_id: str, priority: int, at: datetime) -> None:
    await state.run(
        qs.ENQUEUE, [qs.ready_key("t"), qs.TYPES_KEY],
        [job_id, repr(qs.score(priority, at)), "t"],
    )


async def test_claim_pops_the_head_once(state: StateStore) -> None:
    """Each claim pops the next job; an empty set answers None."""
    await _enqueue(state, "old", 5, T0)
    await _enqueue(state, "urgent", 9, T0 + timedelta(seconds=5))
    keys = [qs.PAUSED_KEY, qs.ready_key("t")]

    first = await state.run(qs.CLAIM, keys, [])
    second = await state.run(qs.CLAIM, keys, [])
    third = await state.run(qs.CLAIM, keys, [])

    assert first[0] == "urgent" and second[0] == "old"
    assert float(first[1]) == qs.score(9, T0 + timedelta(seconds=5))
    assert third is None
    assert await state.hgetall(qs.TYPES_KEY) == {"t": b"1"}


async def test_claim_answers_zero_while_paused(state: StateStore) -> None:
    """A paused queue hands out nothing and keeps the job in line."""
    await _enqueue(state, "job", 5, T0)
    await state.set(qs.PAUSED_KEY, "{}")

    reply = await state.run(qs.CLAIM, [qs.PAUSED_KEY, qs.ready_key("t")], [])

    assert reply == 0
    assert await state.zcard(qs.ready_key("t")) == 1


async def test_rescore_moves_only_jobs_still_waiting(state: StateStore) -> None:
    """A waiting job moves; a job no longer in line is not put back."""
    await _enqueue(state, "job", 1, T0)
    new = repr(qs.score(9, T0))

    moved = await state.run(qs.RESCORE, [qs.ready_key("t")], ["job", new])
    ghost = await state.run(qs.RESCORE, [qs.ready_key("t")], ["gone", new])

    assert (moved, ghost) == (1, 0)
    assert await state.zscore(qs.ready_key("t"), "job") == qs.score(9, T0)
    assert await state.zscore(qs.ready_key("t"), "gone") is None


async def test_depth_counts_per_priority(state: StateStore) -> None:
    """Depth is one count per priority from 9 down to 0, set by set."""
    for n, priority in enumerate((9, 9, 0, 4)):
        await _enqueue(state, f"j{n}", priority, T0 + timedelta(seconds=n))

    counts = await state.run(
        qs.DEPTH, [qs.ready_key("t"), qs.ready_key("empty")], qs.band_bounds()
    )

    assert counts[:10] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert counts[10:] == [0] * 10
