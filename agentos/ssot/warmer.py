"""The warmer: rebuilds the SSOT cache on a schedule, in one process only.

Every worker of every host runs a ``Warmer``; on each tick of its aiocron
schedule it asks the state store for the lock ``ssot-warmer``. The holder
rebuilds the document and keeps the lock by extending it on every tick;
the others skip the tick. The lock expires ``LOCK_TICKS`` intervals after
its last extension, so when the holder dies another worker takes over
within that time, and the cache (whose TTL is longer than an interval)
rarely goes cold.

Traps handled here: aiocron binds the event loop it is created with, so
the schedule is made in ``start`` with the running loop, after the server
starts. aiocron calls the function again at the next tick even if the
previous call is still running, so a tick that finds a rebuild in progress
skips. And an exception escaping a tick would only reach the loop's
exception handler, so a tick logs its failures itself and never raises.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC
from typing import Any

import aiocron

from agentos.errors import AgentOSError
from agentos.logs import log_event
from agentos.ssot.model import ReadModel

logger = logging.getLogger("agentos.ssot")

LOCK_NAME = "ssot-warmer"
LOCK_TICKS = 3
_SECOND_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
_MINUTE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)


def cron_spec(interval_seconds: float) -> str:
    """The aiocron spec that fires every ``interval_seconds`` or a little more often.

    A cron step must divide the minute (or the hour), so an interval that
    does not is rounded down to the nearest step that does: the document is
    then never older than asked. aiocron's parser (cronsim) takes seconds as
    the first of six fields.
    """
    if interval_seconds < 60:
        step = max((s for s in _SECOND_STEPS if s <= interval_seconds), default=1)
        return f"*/{step} * * * * *"
    minutes = math.floor(interval_seconds / 60)
    step = max(s for s in _MINUTE_STEPS if s <= minutes)
    return "0 * * * * *" if step == 60 else f"0 */{step} * * * *"


class Warmer:
    """Rebuilds the cached document every interval while it holds the lock."""

    def __init__(self, model: ReadModel, *, interval_seconds: float) -> None:
        self.model = model
        self.spec = cron_spec(interval_seconds)
        self.lock_ttl = max(interval_seconds * LOCK_TICKS, 1.0)
        self.lock = model.sources.state.lock(LOCK_NAME, self.lock_ttl)
        self.holding = False
        self.warmed = 0
        self._cron: Any = None
        self._running: asyncio.Future[bool] | None = None

    def start(self) -> None:
        """Schedule the ticks on the running loop."""
        self._cron = aiocron.crontab(
            self.spec, func=self._on_tick, loop=asyncio.get_running_loop(), tz=UTC
        )
        log_event(logger, "warmer.started", spec=self.spec, lock_ttl=self.lock_ttl)

    async def stop(self) -> None:
        """Stop the schedule, let a rebuild finish, and hand the lock back."""
        if self._cron is not None:
            self._cron.stop()
        if self._running is not None:
            await asyncio.wait([self._running])
        if self.holding:
            self.holding = False
            await _quietly(self.lock.release())
        log_event(logger, "warmer.stopped", warmed=self.warmed)

    async def tick(self) -> bool:
        """One tick: keep or take the lock, rebuild if held; return whether it did.

        A tick that comes while the previous one still runs does nothing.
        """
        if self._running is not None and not self._running.done():
            return False
        self._running = asyncio.ensure_future(self._warm_once())
        return await asyncio.shield(self._running)

    async def _warm_once(self) -> bool:
        try:
            if not await self._hold_lock():
                return False
            await self.model.refresh()
        except AgentOSError as exc:
            log_event(logger, "warmer.failed", logging.WARNING, reason=exc.message)
            return False
        except Exception:
            logger.exception("warmer.failed")
            return False
        self.warmed += 1
        return True

    async def _on_tick(self) -> None:
        await self.tick()

    async def _hold_lock(self) -> bool:
        was_holding = self.holding
        if self.holding:
            self.holding = await self.lock.extend(self.lock_ttl)
        if not self.holding:
            self.holding = await self.lock.acquire(blocking=False)
        if self.holding != was_holding:
            event = "warmer.lock_taken" if self.holding else "warmer.lock_lost"
            log_event(logger, event, lock=LOCK_NAME)
        return self.holding


async def _quietly(step: Any) -> None:
    try:
        await step
    except AgentOSError as exc:
        log_event(logger, "warmer.release_failed", logging.WARNING, reason=exc.message)
