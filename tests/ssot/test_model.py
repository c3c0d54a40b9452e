"""The cache-first read model on the in-memory state and on Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agentos.ssot import sections
from agentos.ssot.model import CACHE_KEY, ReadModel
from agentos.ssot.sections import Collector, Sources
from agentos.state import RedisState, StateStore
from agentos.store import connect_database
from tests.fixtures.state import PassTime
from tests.ssot import seed

SourcesOf = Callable[[Any], Sources]


@pytest.fixture
async def sources_of(tmp_path: Path) -> AsyncIterator[SourcesOf]:
    """Sources over SQLite and the real services, for the state store given."""
    db = connect_database(None, data_dir=tmp_path)
    await db.migrate()
    yield lambda state: seed.sources(db, state, tmp_path)
    await db.close()


class Counted:
    """A real collector that counts how often it ran."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.calls = 0

    async def __call__(self, sources: Sources) -> Any:
        self.calls += 1
        await asyncio.sleep(0.05)
        return await self.collector(sources)


def _model(
    sources: Sources, ttl: float = 15, local: float = 0, **collectors: Any
) -> ReadModel:
    """A read model; without a local copy unless ``local`` says otherwise."""
    chosen = collectors or dict(sections.COLLECTORS)
    return ReadModel(
        sources,
        ttl_seconds=ttl,
        section_timeout_seconds=2,
        collectors=chosen,
        local_seconds=local,
    )


def _data(reading: Any) -> dict[str, Any]:
    return json.loads(bytes(reading.entry.data))


async def test_first_read_misses_and_stores_then_reads_hit(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """A cold read collects and stores; the next is served from the stored bytes."""
    model = _model(sources_of(state))

    first = await model.read()
    second = await model.read()

    assert (first.hit, second.hit) == (False, True)
    assert bytes(second.entry.data) == bytes(first.entry.data)
    assert second.entry.etag == first.entry.etag
    assert await state.get(CACHE_KEY) is not None
    assert _data(second)["meta"]["cache"] == "stored"


async def test_refresh_replaces_the_stored_document(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """A refresh stores a new document, which the next read serves."""
    model = _model(sources_of(state))
    before = await model.read()

    refreshed = await model.refresh()
    after = await model.read()

    assert after.hit
    assert refreshed.etag != before.entry.etag
    assert after.entry.etag == refreshed.etag


async def test_stored_document_expires_after_its_ttl(
    sources_of: SourcesOf, state: StateStore, pass_time: PassTime
) -> None:
    """Past the TTL the cache is cold again and the next read collects."""
    model = _model(sources_of(state), ttl=1)
    await model.read()

    await pass_time(1.2)
    later = await model.read()

    assert later.hit is False


async def test_concurrent_cold_reads_share_one_collection(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """Twenty reads of a cold cache in one process cause one collection."""
    counted = Counted(sections.dashboard)
    model = _model(sources_of(state), dashboard=counted)

    readings = await asyncio.gather(*(model.read() for _ in range(20)))

    assert counted.calls == 1
    assert len({r.entry.etag for r in readings}) == 1


async def test_unreachable_state_store_still_answers_uncached(
    sources_of: SourcesOf,
) -> None:
    """With the state store down the document is collected and marked uncached."""
    dead = RedisState.from_url("redis://127.0.0.1:1/0", timeout=0.2)
    model = _model(sources_of(dead))

    reading = await model.read()
    await dead.close()

    document = _data(reading)
    assert reading.hit is False
    assert document["meta"]["cache"] == "uncached"
    assert document["meta"]["sections"]["dashboard"]["status"] == "ok"
    assert document["dashboard"]["jobs"]["total"] == 0


async def test_another_process_finds_the_last_good_value_in_the_store(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """A section failing in a fresh process is served from the stored last copy."""
    await _model(sources_of(state)).refresh()
    await state.delete(CACHE_KEY)

    async def broken(sources: Sources) -> Any:
        await sources.db.fetch("SELECT nothing FROM no_such_table")

    fresh = _model(sources_of(state), logs=broken, queue=sections.queue)
    reading = await fresh.read()

    document = _data(reading)
    assert document["meta"]["sections"]["logs"]["status"] == "stale"
    assert document["logs"]["recent"] == {}
    assert document["meta"]["sections"]["queue"]["status"] == "ok"


async def test_reads_within_the_local_window_skip_the_state_store(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """Within local_seconds a process serves its own copy, even if the key is gone."""
    model = _model(sources_of(state), local=30)
    first = await model.read()
    await state.delete(CACHE_KEY)

    again = await model.read()

    assert again.hit is True
    assert again.entry.etag == first.entry.etag
    assert await state.get(CACHE_KEY) is None


async def test_past_the_local_window_the_state_store_is_asked_again(
    sources_of: SourcesOf, state: StateStore
) -> None:
    """Once the local copy is older than local_seconds, the store decides."""
    model = _model(sources_of(state), local=0.2)
    first = await model.read()
    await state.delete(CACHE_KEY)

    await asyncio.sleep(0.3)
    later = await model.read()

    assert later.hit is False
    assert later.entry.etag != first.entry.etag


def test_the_local_window_never_exceeds_the_ttl(sources_of: SourcesOf) -> None:
    """A local copy is never kept longer than the cache itself would keep it."""

    model = _model(sources_of(None), ttl=2, local=30)

    assert model.local_seconds == 2
