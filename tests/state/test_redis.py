"""What only the Redis adapter does: namespaces, pooling, healing connections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agentos.state import RedisState


@pytest.fixture
async def prefix() -> str:
    """A namespace of this test's own."""
    return f"agentos-test:{uuid.uuid4().hex}:"


@pytest.fixture
async def raw(redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    """A plain redis-py client that sees the keys without any namespace."""
    client = Redis.from_url(redis_url)
    yield client
    names = [name async for name in client.scan_iter(match=f"{prefix}*")]
    if names:
        await client.delete(*names)
    await client.aclose()


@pytest.fixture
async def state(redis_url: str, prefix: str) -> AsyncIterator[RedisState]:
    """A Redis state with a small pool (shadows the two-backend fixture)."""
    redis = RedisState.from_url(redis_url, prefix=prefix, max_connections=2)
    yield redis
    await redis.delete_prefix("")
    await redis.close()


async def test_channels_and_streams_live_inside_the_namespace(
    state: RedisState, raw: Redis, prefix: str
) -> None:
    """Stream and channel names get the prefix too, not only plain keys."""
    async with raw.pubsub() as pubsub:
        await pubsub.subscribe(f"{prefix}news")
        await pubsub.get_message(timeout=1)

        receivers = await state.publish("news", "hello")
        await state.xadd("jobs", {"job": "1"})

        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
    assert receivers == 1
    assert message is not None and message["data"] == b"hello"
    assert await raw.xlen(f"{prefix}jobs") == 1


async def test_more_concurrent_calls_than_connections_wait_their_turn(
    state: RedisState,
) -> None:
    """With two connections, fifty simultaneous calls queue instead of failing."""
    results = await asyncio.gather(*(state.incr("hits") for _ in range(50)))

    assert sorted(results) == list(range(1, 51))


async def test_a_connection_that_redis_closed_is_replaced_on_the_next_call(
    state: RedisState, raw: Redis
) -> None:
    """After Redis drops our idle connection (a restart, a timeout) calls go on."""
    await state.set("k", "before")
    # The pool holds exactly the connection that answered CLIENT ID.
    own_id = await state._redis.client_id()

    await raw.client_kill_filter(_id=str(own_id))

    assert await state.get("k") == b"before"
