"""Collecting the SSOT document: every section at once, none allowed to sink it.

Each collector runs in its own task under ``section_timeout_seconds``
(``asyncio.gather``), so the slowest section bounds the collection, not the
sum. A section that raises or runs out of time does not fail the document:

* if a good value of it is known (kept in this process, or found in the
  last stored document), that value is served and the section is **stale**,
  with the time it was collected;
* otherwise the section is **failed** and its value is ``null``.

Either way ``meta.sections`` says so, with the reason. Values are
serialized here, once, so that the cache and the answer share the bytes.

A section may also be marked slow to change (``REUSE_SECONDS``): its good
value is then reused, without collecting, until it is that old, and its
``meta`` says ``reused``. The analytics figures (days of jobs, read from the
analytics service) cost more than every other section together and move
slowly, so a rebuild every few seconds need not recompute them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from agentos import __version__
from agentos.errors import AgentOSError
from agentos.services.records import iso
from agentos.ssot import entry as entries
from agentos.ssot.sections import COLLECTORS, Collector, Sources

logger = logging.getLogger("agentos.ssot")


@dataclass(frozen=True)
class Outcome:
    """One section after collection: its serialized value and how it went."""

    name: str
    status: str  # "ok", "stale" (an older good value) or "failed" (no value)
    value: bytes
    as_of_ms: int
    collection_ms: float
    error: str | None = None
    reused: bool = False


REUSE_SECONDS: Mapping[str, float] = {"analytics": 30.0}
"""Sections whose good value is reused until it is this old, in seconds."""

LastGood = Mapping[str, tuple[bytes, int]]
"""A section's last good serialized value and when it was collected (ms)."""


def to_json(value: Any) -> bytes:
    """Compact JSON bytes; times as ISO 8601 in UTC, ids and decimals as text."""
    return json.dumps(value, separators=(",", ":"), default=_plain).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode(errors="replace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Runner:
    """Runs the collectors and remembers each section's last good value."""

    def __init__(
        self,
        sources: Sources,
        *,
        timeout: float,
        collectors: Mapping[str, Collector] = COLLECTORS,
        reuse_seconds: Mapping[str, float] = REUSE_SECONDS,
    ) -> None:
        self.sources = sources
        self.timeout = timeout
        self.collectors = dict(collectors)
        self.reuse_seconds = dict(reuse_seconds)
        self.last_good: dict[str, tuple[bytes, int]] = {}

    async def collect(self) -> list[Outcome]:
        """Collect every section in parallel, each under the timeout."""
        names = list(self.collectors)
        return list(await asyncio.gather(*(self._one(name) for name in names)))

    def needs_fallback(self, outcomes: Sequence[Outcome]) -> bool:
        """Whether a failed section has no good value known in this process."""
        known = self.last_good
        return any(o.status == "failed" and o.name not in known for o in outcomes)

    def settle(self, outcomes: Sequence[Outcome], fallback: LastGood) -> list[Outcome]:
        """Give each failed section its newest good value, from here or ``fallback``."""
        return [self._settle(outcome, fallback) for outcome in outcomes]

    async def _one(self, name: str) -> Outcome:
        reusable = self._reusable(name)
        if reusable is not None:
            kept, kept_at_ms = reusable
            return Outcome(name, "ok", kept, kept_at_ms, 0.0, reused=True)

        started = time.perf_counter()
        try:
            collector = self.collectors[name]
            value = await asyncio.wait_for(collector(self.sources), self.timeout)
            value_bytes = to_json(value)
        except TimeoutError:
            return self._failed(name, started, f"no answer within {self.timeout:g} s")
        except Exception as exc:  # a section's fault must never sink the document
            return self._failed(name, started, _reason(exc), exc)

        as_of_ms = int(time.time() * 1000)
        self.last_good[name] = (value_bytes, as_of_ms)
        return Outcome(name, "ok", value_bytes, as_of_ms, _ms_since(started))

    def _reusable(self, name: str) -> tuple[bytes, int] | None:
        known = self.last_good.get(name)
        limit = self.reuse_seconds.get(name)
        if known is None or limit is None:
            return None
        age_ms = time.time() * 1000 - known[1]
        return known if age_ms < limit * 1000 else None

    def _failed(
        self, name: str, started: float, reason: str, exc: Exception | None = None
    ) -> Outcome:
        unexpected = exc is not None and not isinstance(exc, AgentOSError)
        logger.warning(
            "ssot.section_failed",
            exc_info=exc if unexpected else None,
            extra={"fields": {"section": name, "reason": reason}},
        )
        return Outcome(name, "failed", b"null", 0, _ms_since(started), reason)

    def _settle(self, outcome: Outcome, fallback: LastGood) -> Outcome:
        if outcome.status == "ok":
            return outcome
        candidates = [c for c in (self.last_good.get(outcome.name),
                                  fallback.get(outcome.name)) if c]
        if not candidates:
            return outcome
        value, as_of_ms = max(candidates, key=lambda c: c[1])
        return Outcome(outcome.name, "stale", value, as_of_ms,
                       outcome.collection_ms, outcome.error)


def fallback_from(raw: bytes | None) -> dict[str, tuple[bytes, int]]:
    """Every good section value of a stored document (see ``entry``)."""
    stored = entries.unpack(raw) if raw else None
    if stored is None:
        return {}
    found: dict[str, tuple[bytes, int]] = {}
    for span in stored.spans:
        if span.as_of_ms > 0:
            value = bytes(stored.data[span.start : span.end])
            found[span.name] = (value, span.as_of_ms)
    return found


def assemble(
    outcomes: Sequence[Outcome],
    *,
    cache: str,
    ttl_seconds: float,
    registry_version: str | None,
    started: float,
) -> entries.Entry:
    """The document's entry: every section, then ``meta`` describing them."""
    now_ms = int(time.time() * 1000)
    meta = {
        "generated_at": _iso(now_ms),
        "version": __version__,
        "registry_version": registry_version,
        "collection_ms": _ms_since(started),
        "complete": all(o.status == "ok" for o in outcomes),
        "cache": cache,
        "ttl_seconds": ttl_seconds,
        "sections": {o.name: _section_meta(o) for o in outcomes},
    }
    parts = [(o.name, o.value, o.as_of_ms) for o in outcomes]
    return entries.build([*parts, ("meta", to_json(meta), now_ms)], now_ms)


def _section_meta(outcome: Outcome) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "status": outcome.status,
        "collection_ms": outcome.collection_ms,
        "as_of": _iso(outcome.as_of_ms) if outcome.as_of_ms else None,
    }
    if outcome.error:
        shown["error"] = outcome.error
    if outcome.reused:
        shown["reused"] = True
    return shown


def _reason(exc: Exception) -> str:
    if isinstance(exc, AgentOSError):
        return exc.message
    return f"{type(exc).__name__} while collecting; see the agentos.ssot log"


def _iso(epoch_ms: int) -> str | None:
    return iso(datetime.fromtimestamp(epoch_ms / 1000, UTC))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
