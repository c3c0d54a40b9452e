"""The in-memory state: every shared-state feature inside one process.

This is the embedded default, for ``agentos serve`` without a Redis. The data
lives in a ``Keyspace`` whose methods never await, so each call here, and each
script's Python twin, runs whole before another task sees the data; the
methods are ``async`` only to keep the ``StateStore`` interface.

What a second process could never see is the limit of this adapter: rate
limits, locks and the queue would each be per process, so it refuses to serve
more than one worker (``check_workers``).

The clock is injectable. Expiry, lock TTLs, stream ids and idle times all read
it, so tests and rate-limit code can move time by hand. Waiting (a blocking
stream read, a lock acquirer's pauses) uses the event loop's real time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

from agentos import errors
from agentos.state.base import Script, StreamEntry, Value, encode, ttl_ms
from agentos.state.keyspace import Clock, Keyspace
from agentos.state.lock import StoreLock
from agentos.state.memory_streams import Stream
from agentos.state.scripts import INCR_WITH_TTL, lua_reply

logger = logging.getLogger("agentos.state")

SUBSCRIBER_BACKLOG = 10_000
"""Messages a subscriber may leave unread before newer ones are dropped for it."""


class MemoryState:
    """The ``StateStore`` for a single process, with an injectable clock."""

    backend = "memory"

    def __init__(self, *, clock: Clock = time.time) -> None:
        self.view = Keyspace(clock)
        self._channels: dict[str, set[asyncio.Queue[bytes]]] = {}
        self._arrivals: dict[str, asyncio.Event] = {}

    @property
    def clock(self) -> Clock:
        """The clock every expiry and stream id reads."""
        return self.view.clock

    def check_workers(self, workers: int) -> None:
        """Refuse more than one worker: this state cannot be shared."""
        if workers <= 1:
            return
        raise errors.ConfigError(
            f"The in-memory state cannot be shared between {workers} workers: each "
            "would keep its own rate limits, locks and queue. Set AGENTOS_REDIS_URL "
            "to a Redis server, or run a single worker."
        )

    # -- keys --------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """The string at ``key``."""
        return self.view.get(key)

    async def set(
        self, key: str, value: Value, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        """Store ``value``; with ``nx`` only if absent."""
        return self.view.set(key, value, ttl, nx)

    async def delete(self, *keys: str) -> int:
        """Remove ``keys``; return how many existed."""
        return self.view.delete(*keys)

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds anything."""
        return self.view.exists(key)

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add ``amount``; a ``ttl`` is applied only when the key is created."""
        if ttl is None:
            return self.view.incr(key, amount)
        return int(await self.run(INCR_WITH_TTL, [key], [amount, ttl_ms(ttl)]))

    async def expire(self, key: str, ttl: float) -> bool:
        """Expire ``key`` in ``ttl`` seconds; ``False`` if it is absent."""
        return self.view.expire(key, ttl)

    async def ttl(self, key: str) -> float | None:
        """Seconds left, or ``None``."""
        return self.view.ttl(key)

    async def keys(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``."""
        return self.view.keys(prefix)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every key that starts with ``prefix``."""
        return self.view.delete(*self.view.keys(prefix))

    # -- hashes and sorted sets --------------------------------------------

    async def hset(self, key: str, mapping: dict[str, Value]) -> None:
        """Set fields of the hash at ``key``."""
        self.view.hset(key, mapping)

    async def hget(self, key: str, field: str) -> bytes | None:
        """One field of the hash at ``key``."""
        return self.view.hget(key, field)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        """Every field of the hash at ``key``."""
        return self.view.hgetall(key)

    async def hdel(self, key: str, *fields: str) -> int:
        """Remove fields; return how many existed."""
        return self.view.hdel(key, *fields)

    async def hincrby(self, key: str, field: str, amount: int = 1) -> int:
        """Add ``amount`` to an integer field."""
        return self.view.hincrby(key, field, amount)

    async def zadd(self, key: str, mapping: dict[str, float]) -> int:
        """Add members; return how many were new."""
        return self.view.zadd(key, mapping)

    async def zrem(self, key: str, *members: str) -> int:
        """Remove members; return how many existed."""
        return self.view.zrem(key, *members)

    async def zrange(
        self, key: str, start: int = 0, stop: int = -1, *, withscores: bool = False
    ) -> list[str] | list[tuple[str, float]]:
        """Members by ascending score, ``stop`` inclusive."""
        pairs = self.view.zrange(key, start, stop)
        return pairs if withscores else [member for member, _ in pairs]

    async def zcard(self, key: str) -> int:
        """How many members the set has."""
        return self.view.zcard(key)

    async def zscore(self, key: str, member: str) -> float | None:
        """The score of ``member``."""
        return self.view.zscore(key, member)

    # -- scripts and locks -------------------------------------------------

    async def run(
        self, script: Script, keys: Sequence[str], args: Sequence[Value]
    ) -> Any:
        """Run the script's Python twin; nothing else runs until it returns."""
        texts = [encode(arg).decode(errors="surrogateescape") for arg in args]
        try:
            result = script.python(self.view, list(keys), texts, self.view.now())
        except errors.AgentOSError:
            raise
        except Exception as exc:
            message = f"The state script {script.name} failed: {exc}"
            raise errors.AgentOSError(message) from exc
        return lua_reply(result)

    def lock(self, name: str, ttl: float, *, wait: float | None = None) -> StoreLock:
        """A lock named ``name`` that expires ``ttl`` seconds after taking it."""
        return StoreLock(self, name, ttl, wait=wait)

    # -- pub/sub -----------------------------------------------------------

    async def publish(self, channel: str, message: Value) -> int:
        """Hand ``message`` to every subscriber; return how many there are."""
        data, queues = encode(message), self._channels.get(channel, set())
        for queue in queues:
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:
                extra = {"fields": {"channel": channel, "backlog": queue.qsize()}}
                logger.warning("pubsub.dropped", extra=extra)
        return len(queues)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """Receive the messages published on ``channel`` inside the block."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._channels.setdefault(channel, set()).add(queue)
        try:
            yield _drain(queue)
        finally:
            subscribers = self._channels.get(channel, set())
            subscribers.discard(queue)
            if not subscribers:
                self._channels.pop(channel, None)

    # -- streams -----------------------------------------------------------

    async def xadd(
        self, stream: str, fields: dict[str, str], *, maxlen: int | None = None
    ) -> str:
        """Append an entry and wake the readers waiting on ``stream``."""
        log = self._stream(stream, create=True)
        entry_id = log.add(fields, self.view.now(), maxlen)
        arrival = self._arrivals.pop(stream, None)
        if arrival is not None:
            arrival.set()
        return entry_id

    async def xgroup_create(self, stream: str, group: str) -> bool:
        """Create a group at the stream's start; ``False`` if it exists."""
        return self._stream(stream, create=True).create_group(group)

    async def xreadgroup(
        self,
        group: str,
        consumer: str,
        stream: str,
        *,
        count: int = 1,
        block_ms: int | None = None,
    ) -> list[StreamEntry]:
        """Deliver new entries, waiting up to ``block_ms`` for one (0: forever)."""
        entries = self._read(group, consumer, stream, count)
        if entries or block_ms is None:
            return entries

        loop = asyncio.get_running_loop()
        deadline = math.inf if block_ms == 0 else loop.time() + block_ms / 1000
        while not entries:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            await self._next_arrival(stream, remaining)
            entries = self._read(group, consumer, stream, count)
        return entries

    async def xack(self, stream: str, group: str, *ids: str) -> int:
        """Forget pending entries; return how many were pending."""
        log = self.view.stream(stream)
        return 0 if log is None else log.ack(group, ids)

    async def xautoclaim(
        self,
        stream: str,
        group: str,
        consumer: str,
        *,
        min_idle_ms: int,
        count: int = 10,
    ) -> list[StreamEntry]:
        """Take over entries pending longer than ``min_idle_ms``."""
        now = self.view.now()
        return self._stream(stream).autoclaim(group, consumer, min_idle_ms, count, now)

    async def xlen(self, stream: str) -> int:
        """How many entries the stream holds."""
        return len(self.view.stream(stream) or ())

    async def xdel(self, stream: str, *ids: str) -> int:
        """Remove entries; return how many existed."""
        log = self.view.stream(stream)
        return 0 if log is None else log.delete(ids)

    async def xpending_count(self, stream: str, group: str) -> int:
        """How many entries the group delivered that nobody acked."""
        return self._stream(stream).pending_count(group)

    def _stream(self, key: str, *, create: bool = False) -> Stream:
        log = self.view.stream(key, create=create)
        if log is None:
            # Redis answers NOGROUP here too: a group cannot exist without its stream.
            return Stream()
        return log

    def _read(
        self, group: str, consumer: str, stream: str, count: int
    ) -> list[StreamEntry]:
        now = self.view.now()
        return self._stream(stream).read_new(group, consumer, count, now)

    async def _next_arrival(self, stream: str, timeout: float) -> None:
        arrival = self._arrivals.setdefault(stream, asyncio.Event())
        with suppress(TimeoutError):
            async with asyncio.timeout(None if math.isinf(timeout) else timeout):
                await arrival.wait()

    # -- lifecycle ---------------------------------------------------------

    async def ping(self) -> float:
        """Nothing to reach: the latency is zero."""
        return 0.0

    async def close(self) -> None:
        """Drop the subscriptions; the data goes with the process."""
        self._channels.clear()


async def _drain(queue: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
    while True:
        yield await queue.get()
