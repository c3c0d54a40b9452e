"""Pub/sub and streams over Redis: the messaging half of ``RedisState``.

Pub/sub subscriptions each hold a connection of their own, taken from a pool
kept apart from the command pool, so that any number of subscribers never
leaves commands waiting. A subscription counts as active only once Redis has
confirmed the SUBSCRIBE, so a message published right after ``async with``
is not missed.

A blocking stream read is cut into slices of half the read timeout. One
socket timeout then serves every command, and a reader waiting on a dead
Redis learns of it within a second, as any other caller does. Between slices
the reader is briefly not blocked; nothing is lost, because the consumer
group, not the connection, remembers what was delivered. A reader cancelled
while blocked may still be handed an entry that arrived at that instant; it
stays pending under that consumer until ``xautoclaim`` gives it to another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, ResponseError, TimeoutError

from agentos.state.base import StreamEntry, Value, encode
from agentos.state.redis_errors import translate, translated


def text(raw: bytes) -> str:
    """Decode a reply from Redis, keeping any byte that is not UTF-8."""
    return raw.decode(errors="surrogateescape")


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> StreamEntry:
    return text(entry_id), {text(name): text(value) for name, value in fields.items()}


class RedisMessaging:
    """Pub/sub and stream commands; ``RedisState`` supplies the connections."""

    address: str
    prefix: str
    _timeout: float
    # redis-py types every reply as ``bytes | str`` since it cannot know that
    # ``decode_responses`` is off; replies are typed by this adapter's methods.
    _redis: Any
    _listener: Any

    def _key(self, name: str) -> str:
        return self.prefix + name

    # -- pub/sub -----------------------------------------------------------

    @translated
    async def publish(self, channel: str, message: Value) -> int:
        """Publish ``message``; return how many subscribers received it."""
        return int(await self._redis.publish(self._key(channel), encode(message)))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """Receive the messages published on ``channel`` inside the block."""
        pubsub = self._listener.pubsub()
        try:
            await self._confirm_subscription(pubsub, self._key(channel))
            yield self._messages(pubsub)
        finally:
            with suppress(RedisError):
                await pubsub.aclose()

    @translated
    async def _confirm_subscription(self, pubsub: PubSub, channel: str) -> None:
        await pubsub.subscribe(channel)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            reply = await pubsub.get_message(timeout=self._timeout)
            if reply is not None and reply["type"] == "subscribe":
                return
        raise TimeoutError("no confirmation of SUBSCRIBE")

    async def _messages(self, pubsub: PubSub) -> AsyncIterator[bytes]:
        while True:
            try:
                reply = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
            except RedisError as exc:
                raise translate(exc, self.address) from exc
            if reply is not None and reply["type"] == "message":
                yield reply["data"]

    # -- streams -----------------------------------------------------------

    @translated
    async def xadd(
        self, stream: str, fields: dict[str, str], *, maxlen: int | None = None
    ) -> str:
        """Append an entry; with ``maxlen`` trim the oldest, exactly."""
        encoded = {name: encode(value) for name, value in fields.items()}
        entry_id = await self._redis.xadd(
            self._key(stream), encoded, maxlen=maxlen, approximate=False
        )
        return text(entry_id)

    @translated
    async def xgroup_create(self, stream: str, group: str) -> bool:
        """Create a group at the stream's start; ``False`` if it exists."""
        try:
            await self._redis.xgroup_create(
                self._key(stream), group, "0", mkstream=True
            )
        except ResponseError as exc:
            if str(exc).startswith("BUSYGROUP"):
                return False
            raise
        return True

    @translated
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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block_ms / 1000 if block_ms else None
        streams = {self._key(stream): ">"}

        while True:
            block = self._block_slice(block_ms, deadline, loop.time())
            reply = await self._redis.xreadgroup(
                group, consumer, streams, count=count, block=block
            )
            entries = [_entry(*item) for item in reply[0][1]] if reply else []
            if entries or block_ms is None:
                return entries
            if deadline is not None and loop.time() >= deadline:
                return []

    def _block_slice(
        self, block_ms: int | None, deadline: float | None, now: float
    ) -> int | None:
        if block_ms is None:
            return None
        longest = max(1, int(self._timeout * 500))
        if deadline is None:
            return longest
        return max(1, min(longest, int((deadline - now) * 1000)))

    @translated
    async def xack(self, stream: str, group: str, *ids: str) -> int:
        """Forget pending entries; return how many were pending."""
        if not ids:
            return 0
        return int(await self._redis.xack(self._key(stream), group, *ids))

    @translated
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
        reply = await self._redis.xautoclaim(
            self._key(stream), group, consumer, min_idle_ms, "0-0", count=count
        )
        # Redis 6.2 lists deleted entries without fields; Redis 7 leaves them out.
        return [_entry(*item) for item in reply[1] if item[1] is not None]

    @translated
    async def xlen(self, stream: str) -> int:
        """How many entries the stream holds."""
        return int(await self._redis.xlen(self._key(stream)))

    @translated
    async def xdel(self, stream: str, *ids: str) -> int:
        """Remove entries; return how many existed."""
        if not ids:
            return 0
        return int(await self._redis.xdel(self._key(stream), *ids))

    @translated
    async def xpending_count(self, stream: str, group: str) -> int:
        """How many entries the group delivered that nobody acked."""
        summary = await self._redis.xpending(self._key(stream), group)
        return int(summary["pending"])
