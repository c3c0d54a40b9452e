"""The warmer: one process of the deployment rebuilds the cache on a schedule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agentos.ssot import sections
from agentos.ssot.model import CACHE_KEY, ReadModel
from agentos.ssot.sections import Sources
from agentos.ssot.warmer import Warmer, cron_spec
from agentos.state import RedisState, StateStore
from agentos.store import connect_database
from tests.ssot import seed

SourcesOf = Callable[[Any], Sources]


@pytest.fixture
async def sources_of(tmp_path: Path) -> AsyncIterator[SourcesOf]:
    """Sources over SQLite and the real services, for the state store given."""
    db = connect_database(None, data_dir=tmp_path)
    await db.migrate()
    yield lambda state: seed.sources(db, state, tmp_path)
    await db.close()


def _warmer(sources: Sources, **collectors: Any) -> Warmer:
    model = ReadModel(
        sources,
        ttl_seconds=15,
        section_timeout_seconds=2,
        collectors=collectors or dict(sections.COLLECTORS),
    )
    return Warmer(model, interval_seconds=5)


@pytest.mark.parametrize(
    ("interval", "spec"),
    [
        pytest.param(5, "*/5 * * * * *", id="five-seconds"),
        pytest.param(7, "*/6 * * * * *", id="seven-rounds-down-to-six"),
        pytest.param(0.5, "*/1 * * * * *", id="under-a-second-is-every-second"),
        pytest.param(60, "0 */1 * * * *", id="one-minute"),
        pytest.param(450, "0 */6 * * * *", id="seven-and-a-half-minutes"),
        pytest.param(3600, "0 * * * * *", id="an-hour-is-the-top-of-each-hour"),
    ],
)
def test_interval_becomes_a_cron_spec_never_slower(interval: float, spec: str) -> None:
    """An interval maps to the nearest cron step that is not longer than it."""

    assert cron_spec(interval) == spec


async def test_two_warmers_ticking_at_once_warm_once(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """Of two warmers on one state store, exactly one takes the lock and warms."""
    first, second = _warmer(sources_of(state)), _warmer(sources_of(state))

    results = await asyncio.gather(first.tick(), second.tick())

    assert sorted(results) == [False, True]
    assert first.warmed + second.warmed == 1
    assert await state.get(CACHE_KEY) is not None


async def test_the_holder_keeps_warming_and_the_other_keeps_skipping(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """Later ticks go to the same warmer, which extends its lock each time."""
    first, second = _warmer(sources_of(state)), _warmer(sources_of(state))
    await first.tick()

    for _ in range(3):
        await asyncio.gather(second.tick(), first.tick())

    assert (first.warmed, second.warmed) == (4, 0)


async def test_a_stopped_holder_hands_over_at_the_next_tick(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """Stopping releases the lock, so another warmer takes over at once."""
    first, second = _warmer(sources_of(state)), _warmer(sources_of(state))
    await first.tick()

    await first.stop()
    took_over = await second.tick()

    assert took_over is True
    await second.stop()


async def test_a_tick_during_a_rebuild_is_skipped(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """aiocron fires again while a slow rebuild runs; that tick does nothing."""
    release = asyncio.Event()

    async def slow(sources: Sources) -> dict[str, str]:
        await release.wait()
        return {"done": "yes"}

    warmer = _warmer(sources_of(state), slow=slow)
    running = asyncio.ensure_future(warmer.tick())
    await asyncio.sleep(0.05)

    overlapping = await warmer.tick()
    release.set()

    assert overlapping is False
    assert await running is True
    assert warmer.warmed == 1


async def test_an_unreachable_state_store_fails_the_tick_without_raising(
    sources_of: SourcesOf,
) -> None:
    """A tick that cannot reach the lock logs and returns False; nothing escapes."""
    dead = RedisState.from_url("redis://127.0.0.1:1/0", timeout=0.2)
    warmer = _warmer(sources_of(dead))

    warmed = await warmer.tick()
    await dead.close()

    assert warmed is False
    assert warmer.warmed == 0


async def test_started_warmer_fires_on_the_running_loop(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """Scheduled with aiocron on the running loop, it warms within seconds."""
    model = ReadModel(sources_of(state), ttl_seconds=15,
                      section_timeout_seconds=2)
    warmer = Warmer(model, interval_seconds=1)

    warmer.start()
    for _ in range(40):
        if warmer.warmed:
            break
        await asyncio.sleep(0.1)
    await warmer.stop()

    assert warmer.warmed >= 1
    assert await state.get(CACHE_KEY) is not None
