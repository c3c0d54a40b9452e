"""The shared-state interface: what Redis holds in production.

Everything that several workers must agree on lives behind this interface:
cache entries, rate-limit counters, idempotency records, breaker states,
locks, the job queue's streams, heartbeats and pub/sub notifications.

Two adapters implement it. ``RedisState`` talks to Redis through
``redis.asyncio``; ``MemoryState`` keeps everything in one process and
refuses to serve more than one worker. Both pass the same contract suite.

Atomic multi-step operations are ``Script`` objects: one Lua source for Redis
and one Python function for memory, which runs without awaiting and is
therefore atomic on the event loop. Keys a script touches share one hash tag
(``{subject}:...``) so that Redis Cluster accepts them.

Values are ``bytes`` on the way out; ``str`` values are encoded as UTF-8 on
the way in. Errors: an unreachable Redis raises ``errors.DependencyDown``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

Value = bytes | str | int | float
StreamEntry = tuple[str, dict[str, str]]


@dataclass(frozen=True)
class Script:
    """An atomic operation with a Lua body for Redis and a Python twin.

    ``python(memory, keys, args, now)`` receives the ``MemoryState``'s
    primitive view (see ``agentos.state.memory``) and the clock in seconds;
    the Lua body reads the clock with ``redis.call('TIME')`` so that every
    worker uses the server's clock. Both return the same JSON-able values.
    """

    name: str
    lua: str
    python: Callable[..., Any]


class Lock(Protocol):
    """A lock with expiry, held by one owner across the whole deployment."""

    name: str

    async def acquire(self, *, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; without ``blocking`` return ``False`` at once if held."""

    async def release(self) -> bool:
        """Release it if this owner still holds it; return whether it did."""

    async def extend(self, ttl: float) -> bool:
        """Push the expiry ``ttl`` seconds ahead if this owner still holds it."""

    async def __aenter__(self) -> Lock: ...

    async def __aexit__(self, *exc: object) -> None: ...


class StateStore(Protocol):
    """Keys with TTL, hashes, sorted sets, scripts, locks, pub/sub and streams."""

    backend: str
    """``"memory"`` or ``"redis"``."""

    # keys -------------------------------------------------------------
    async def get(self, key: str) -> bytes | None: ...

    async def set(
        self, key: str, value: Value, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        """Store ``value``; with ``nx`` only if absent. Return whether it was set."""

    async def delete(self, *keys: str) -> int: ...

    async def exists(self, key: str) -> bool: ...

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add ``amount``; a ``ttl`` is applied only when the key is created."""

    async def expire(self, key: str, ttl: float) -> bool: ...

    async def ttl(self, key: str) -> float | None:
        """Seconds left, or ``None`` for a missing key or one without expiry."""

    async def keys(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix`` (SCAN on Redis; for admin work)."""

    async def delete_prefix(self, prefix: str) -> int: ...

    # hashes -----------------------------------------------------------
    async def hset(self, key: str, mapping: dict[str, Value]) -> None: ...

    async def hget(self, key: str, field: str) -> bytes | None: ...

    async def hgetall(self, key: str) -> dict[str, bytes]: ...

    async def hdel(self, key: str, *fields: str) -> int: ...

    async def hincrby(self, key: str, field: str, amount: int = 1) -> int: ...

    # sorted sets ------------------------------------------------------
    async def zadd(self, key: str, mapping: dict[str, float]) -> int: ...

    async def zrem(self, key: str, *members: str) -> int: ...

    async def zrange(
        self, key: str, start: int = 0, stop: int = -1, *, withscores: bool = False
    ) -> list[str] | list[tuple[str, float]]:
        """Members by ascending score, ``stop`` inclusive as in Redis."""

    async def zcard(self, key: str) -> int: ...

    async def zscore(self, key: str, member: str) -> float | None: ...

    # atomic scripts ---------------------------------------------------
    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Value]) -> Any:
        """Run ``script`` atomically over ``keys`` with ``args``."""

    # locks ------------------------------------------------------------
    def lock(self, name: str, ttl: float) -> Lock:
        """A lock named ``name`` that expires ``ttl`` seconds after taking it."""

    # pub/sub ----------------------------------------------------------
    async def publish(self, channel: str, message: Value) -> int: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``async with state.subscribe(ch) as messages: async for m in messages``."""

    # streams (the job queue) -----------------------------------------
    async def xadd(self, stream: str, fields: dict[str, str], *, maxlen: int | None = None) -> str: ...

    async def xgroup_create(self, stream: str, group: str) -> bool:
        """Create a consumer group at the stream's start; ``False`` if it exists."""

    async def xreadgroup(
        self, group: str, consumer: str, stream: str, *, count: int = 1, block_ms: int | None = None
    ) -> list[StreamEntry]: ...

    async def xack(self, stream: str, group: str, *ids: str) -> int: ...

    async def xautoclaim(
        self, stream: str, group: str, consumer: str, *, min_idle_ms: int, count: int = 10
    ) -> list[StreamEntry]:
        """Take over entries pending longer than ``min_idle_ms`` for ``consumer``."""

    async def xlen(self, stream: str) -> int: ...

    async def xdel(self, stream: str, *ids: str) -> int: ...

    async def xpending_count(self, stream: str, group: str) -> int: ...

    # lifecycle --------------------------------------------------------
    async def ping(self) -> float:
        """Round-trip to the store; return the latency in milliseconds."""

    async def close(self) -> None: ...
