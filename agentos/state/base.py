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
(``{subject}:...``) so that Redis Cluster accepts them, and every key is
passed in ``keys``: the Redis adapter adds its namespace to those names only.

Values are ``bytes`` on the way out; ``str``, ``int`` and ``float`` values
are encoded as UTF-8 text on the way in, as Redis stores them. Errors: an
unreachable Redis raises ``errors.DependencyDown``; a command that cannot
work on the data it finds (a hash read from a plain key, a counter that is
not a number, a missing consumer group) raises ``errors.AgentOSError``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from agentos import errors

Value = bytes | str | int | float
StreamEntry = tuple[str, dict[str, str]]


def encode(value: Value) -> bytes:
    """Encode ``value`` the way Redis stores it: text as UTF-8, numbers as text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        raise TypeError("Store a bool as 0 or 1 explicitly; Redis has no bool type.")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    raise TypeError(f"Cannot store a {type(value).__name__}; encode it as text first.")


def ttl_ms(ttl: float) -> int:
    """Convert a TTL in seconds to whole milliseconds, refusing non-positive ones."""
    if not ttl > 0:
        raise ValueError(f"A TTL must be a positive number of seconds, not {ttl!r}.")
    return max(1, math.ceil(ttl * 1000))


def refused(reason: str) -> errors.AgentOSError:
    """The error for a command that cannot work on the data it finds."""
    return errors.AgentOSError(
        f"The state store refused a command: {reason}. This is a bug in the "
        "calling code; report it with the trace id."
    )


@dataclass(frozen=True)
class Script:
    """An atomic operation with a Lua body for Redis and a Python twin.

    ``python(view, keys, args, now)`` receives the in-memory keyspace (see
    ``agentos.state.keyspace``), the key names, the arguments as ``str`` (as
    Lua sees ``ARGV``) and the clock in seconds. The Lua body reads the clock
    with ``redis.call('TIME')`` so that every worker uses the server's clock.

    Replies follow Redis's Lua conversion on both adapters: strings come back
    as ``str``, numbers as ``int`` (truncated), ``true`` as ``1``, ``false``
    and ``nil`` as ``None``, and a list ends at its first ``nil``.
    """

    name: str
    lua: str
    python: Callable[..., Any]


class Lock(Protocol):
    """A lock with expiry, held by one owner across the whole deployment.

    ``async with`` waits for the lock as long as the ``wait`` given to
    ``StateStore.lock`` (forever when ``None``) and raises ``errors.Conflict``
    if that passes; on exit it releases the lock if it still holds it.
    """

    name: str

    async def acquire(
        self, *, blocking: bool = True, timeout: float | None = None
    ) -> bool:
        """Take the lock; without ``blocking`` return ``False`` at once if held."""

    async def release(self) -> bool:
        """Release it if this owner still holds it; return whether it did."""

    async def extend(self, ttl: float) -> bool:
        """Set the expiry ``ttl`` seconds from now if this owner still holds it."""

    async def __aenter__(self) -> Lock: ...

    async def __aexit__(self, *exc: object) -> None: ...


class StateStore(Protocol):
    """Keys with TTL, hashes, sorted sets, scripts, locks, pub/sub and streams."""

    backend: str
    """``"memory"`` or ``"redis"``."""

    def check_workers(self, workers: int) -> None:
        """Raise ``errors.ConfigError`` if this store cannot serve ``workers``."""

    # keys -------------------------------------------------------------
    async def get(self, key: str) -> bytes | None: ...

    async def set(
        self, key: str, value: Value, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        """Store ``value``; with ``nx`` only if absent. Return whether it was set.

        Without ``ttl`` the key keeps no expiry, even one it had before.
        """

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
    async def run(
        self, script: Script, keys: Sequence[str], args: Sequence[Value]
    ) -> Any:
        """Run ``script`` atomically over ``keys`` with ``args``."""

    # locks ------------------------------------------------------------
    def lock(self, name: str, ttl: float, *, wait: float | None = None) -> Lock:
        """A lock named ``name`` that expires ``ttl`` seconds after taking it."""

    # pub/sub ----------------------------------------------------------
    async def publish(self, channel: str, message: Value) -> int: ...

    def subscribe(
        self, channel: str
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``async with state.subscribe(ch) as messages: async for m in messages``.

        The subscription is active when the ``async with`` body starts.
        """

    # streams (the job queue) -----------------------------------------
    async def xadd(
        self, stream: str, fields: dict[str, str], *, maxlen: int | None = None
    ) -> str:
        """Append an entry; with ``maxlen`` drop the oldest beyond that length."""

    async def xgroup_create(self, stream: str, group: str) -> bool:
        """Create a consumer group at the stream's start; ``False`` if it exists."""

    async def xreadgroup(
        self,
        group: str,
        consumer: str,
        stream: str,
        *,
        count: int = 1,
        block_ms: int | None = None,
    ) -> list[StreamEntry]:
        """Deliver up to ``count`` new entries to ``consumer``.

        With ``block_ms`` wait that long for an entry when none is there
        (``0`` waits until one comes); the entries stay pending until acked.
        """

    async def xack(self, stream: str, group: str, *ids: str) -> int: ...

    async def xautoclaim(
        self,
        stream: str,
        group: str,
        consumer: str,
        *,
        min_idle_ms: int,
        count: int = 10,
    ) -> list[StreamEntry]:
        """Take over entries pending longer than ``min_idle_ms`` for ``consumer``."""

    async def xlen(self, stream: str) -> int: ...

    async def xdel(self, stream: str, *ids: str) -> int: ...

    async def xpending_count(self, stream: str, group: str) -> int: ...

    # lifecycle --------------------------------------------------------
    async def ping(self) -> float:
        """Round-trip to the store; return the latency in milliseconds."""

    async def close(self) -> None: ...
