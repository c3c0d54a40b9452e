"""A deployment-wide lock made of one key, an owner token and two scripts.

The lock named ``warmer`` is the key ``lock:warmer``. Its value is a random
token drawn at each acquisition; its TTL bounds how long an owner that crashed
can keep others out. Taking the lock is ``SET NX`` with that TTL. Releasing
and extending compare the token first, inside one script, so an owner whose
lock expired and was taken by another cannot release or extend the new
owner's lock. Both adapters share this class; only the store beneath differs.

A waiting acquirer polls, with a pause that doubles up to a tenth of a second
and carries jitter so that waiters do not poll in step. Redis offers no cheap,
reliable notice of a key's expiry to wait on instead, and the locks here are
held briefly; a lock contended by hundreds of waiters would want a queue.

An owner that works past its TTL loses the lock without noticing until it
releases or extends: long work must ``extend`` before the TTL runs out.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import secrets
from typing import TYPE_CHECKING

from agentos import errors
from agentos.state.base import Value, ttl_ms
from agentos.state.scripts import EXTEND_LOCK, RELEASE_LOCK

if TYPE_CHECKING:
    from agentos.state.base import StateStore

logger = logging.getLogger("agentos.state")

FIRST_PAUSE = 0.005
LONGEST_PAUSE = 0.1


class StoreLock:
    """A lock with expiry and an owner token, kept in a ``StateStore``."""

    def __init__(
        self, store: StateStore, name: str, ttl: float, *, wait: float | None = None
    ) -> None:
        ttl_ms(ttl)
        self.name = name
        self._store = store
        self._key = f"lock:{name}"
        self._ttl = ttl
        self._wait = wait
        self._token: str | None = None

    async def acquire(
        self, *, blocking: bool = True, timeout: float | None = None
    ) -> bool:
        """Take the lock; without ``blocking`` return ``False`` at once if held."""
        token = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        deadline = math.inf if timeout is None else loop.time() + timeout
        pause = FIRST_PAUSE

        while True:
            if await self._store.set(self._key, token, ttl=self._ttl, nx=True):
                self._token = token
                return True
            remaining = deadline - loop.time()
            if not blocking or remaining <= 0:
                return False

            await asyncio.sleep(min(pause, remaining) * random.uniform(0.5, 1.0))
            pause = min(pause * 2, LONGEST_PAUSE)

    async def release(self) -> bool:
        """Release it if this owner still holds it; return whether it did."""
        token, self._token = self._token, None
        if token is None:
            return False
        return bool(await self._store.run(RELEASE_LOCK, [self._key], [token]) == 1)

    async def extend(self, ttl: float) -> bool:
        """Set the expiry ``ttl`` seconds from now if this owner still holds it."""
        if self._token is None:
            return False
        args: list[Value] = [self._token, ttl_ms(ttl)]
        return bool(await self._store.run(EXTEND_LOCK, [self._key], args) == 1)

    async def __aenter__(self) -> StoreLock:
        if await self.acquire(timeout=self._wait):
            return self
        raise errors.Conflict(
            f"The lock '{self.name}' is held elsewhere and was not free within "
            f"{self._wait} s; retry shortly."
        )

    async def __aexit__(self, *exc: object) -> None:
        if await self.release():
            return
        logger.warning(
            "lock.lost",
            extra={"fields": {"lock": self.name, "ttl": self._ttl}},
        )
