"""The admin read model: the SSOT document, cache first.

``ReadModel.read`` answers from the state store's copy when there is one
(a *hit*: the stored bytes, untouched); otherwise it collects every
section, stores the result for ``ttl_seconds`` and answers with it (a
*miss*). ``ReadModel.refresh`` collects and stores unconditionally; the
warmer and the ``dashboard.refresh`` action call it.

Two copies are stored: ``admin:dashboard:v4``, which expires after the TTL
and is what reads are served from, and ``admin:dashboard:v4:last``, kept
for a day, where a later collection finds the last good value of a section
that fails. In one process concurrent misses share one collection, so a
cold cache under load costs one collection, not one per request.

Each process also keeps the copy it last read or stored, for at most
``local_seconds`` (one second by default, never more than the TTL): reads
within that time are hits without a round trip to the state store, which
is most of a hit's cost. The price is that a refresh or a cache flush made
by another process shows here up to that long after.

When the state store does not answer, the document is collected for each
read and marked ``"cache": "uncached"`` in ``meta``; the endpoint keeps
working, only slower.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentos import metrics
from agentos.errors import DependencyDown
from agentos.logs import log_event
from agentos.ssot import collect
from agentos.ssot.entry import Entry, pack, unpack
from agentos.ssot.sections import COLLECTORS, Collector, Sources

logger = logging.getLogger("agentos.ssot")

CACHE_KEY = "admin:dashboard:v4"
LAST_KEY = "admin:dashboard:v4:last"
LAST_TTL_SECONDS = 86_400.0
LOCAL_SECONDS = 1.0


@dataclass(frozen=True)
class Reading:
    """A document to answer with, and whether it came from the cache."""

    entry: Entry
    hit: bool


class ReadModel:
    """Reads and refreshes the cached SSOT document of one process."""

    def __init__(
        self,
        sources: Sources,
        *,
        ttl_seconds: float,
        section_timeout_seconds: float,
        collectors: Mapping[str, Collector] = COLLECTORS,
        local_seconds: float = LOCAL_SECONDS,
    ) -> None:
        self.sources = sources
        self.ttl_seconds = ttl_seconds
        self.local_seconds = min(local_seconds, ttl_seconds)
        self.runner = collect.Runner(
            sources, timeout=section_timeout_seconds, collectors=collectors
        )
        self._inflight: asyncio.Future[Entry] | None = None
        self._local: tuple[float, Entry] | None = None

    @property
    def section_names(self) -> tuple[str, ...]:
        """The names a reader may ask for, ``meta`` last."""
        return (*self.runner.collectors, "meta")

    async def read(self) -> Reading:
        """The cached document if fresh, else a newly collected one."""
        local = self._local_copy()
        if local is not None:
            return Reading(local, hit=True)

        try:
            raw = await self.sources.state.get(CACHE_KEY)
        except DependencyDown as exc:
            _log_unavailable("read", exc)
            return Reading(await self._shared_collection(), hit=False)

        cached = unpack(raw) if raw else None
        if cached is not None:
            self._keep(cached)
            return Reading(cached, hit=True)
        return Reading(await self._shared_collection(), hit=False)

    async def refresh(self) -> Entry:
        """Collect and store the document now, whatever the cache holds."""
        return await self._shared_collection()

    async def close(self) -> None:
        """Wait for a collection in progress, so that nothing outlives the stores."""
        if self._inflight is not None and not self._inflight.done():
            await asyncio.wait([self._inflight])

    async def _shared_collection(self) -> Entry:
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._collect_and_store())
        # A reader that gives up must not cancel the collection others await.
        return await asyncio.shield(self._inflight)

    async def _collect_and_store(self) -> Entry:
        started = time.perf_counter()
        outcomes = await self.runner.collect()
        fallback = {}
        if self.runner.needs_fallback(outcomes):
            fallback = await self._stored_fallback()
        outcomes = self.runner.settle(outcomes, fallback)

        entry = self._assemble(outcomes, "stored", started)
        if await self._store(entry):
            self._keep(entry)
        else:
            entry = self._assemble(outcomes, "uncached", started)
        metrics.record_collection(time.perf_counter() - started)
        return entry

    def _assemble(
        self, outcomes: list[collect.Outcome], cache: str, started: float
    ) -> Entry:
        return collect.assemble(
            outcomes,
            cache=cache,
            ttl_seconds=self.ttl_seconds,
            registry_version=self.sources.registry_version(),
            started=started,
        )

    async def _store(self, entry: Entry) -> bool:
        packed = pack(entry)
        state = self.sources.state
        results: list[bool | BaseException] = await asyncio.gather(
            state.set(CACHE_KEY, packed, ttl=self.ttl_seconds),
            state.set(LAST_KEY, packed, ttl=LAST_TTL_SECONDS),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, DependencyDown):
                raise result
        served = results[0]
        if isinstance(served, DependencyDown):
            _log_unavailable("store", served)
            return False
        return True

    def _local_copy(self) -> Entry | None:
        if self._local is None:
            return None
        kept_at, entry = self._local
        if time.monotonic() - kept_at >= self.local_seconds:
            return None
        return entry

    def _keep(self, entry: Entry) -> None:
        self._local = (time.monotonic(), entry)

    async def _stored_fallback(self) -> dict[str, tuple[bytes, int]]:
        try:
            return collect.fallback_from(await self.sources.state.get(LAST_KEY))
        except DependencyDown:
            return {}


def _log_unavailable(doing: str, exc: Any) -> None:
    log_event(
        logger, "ssot.cache_unavailable", logging.WARNING,
        doing=doing, reason=getattr(exc, "message", str(exc)),
    )
