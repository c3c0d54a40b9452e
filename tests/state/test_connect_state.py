"""Choosing the state adapter from the configuration."""

from __future__ import annotations

import uuid

from agentos.state import MemoryState, RedisState, connect_state


async def test_no_redis_url_means_the_in_memory_state() -> None:
    """Without a Redis URL the embedded default is used."""
    state = connect_state(None)

    assert isinstance(state, MemoryState)
    assert state.backend == "memory"


async def test_a_redis_url_gives_a_redis_state_inside_its_namespace(
    redis_url: str,
) -> None:
    """Keys written through the Redis state land under its prefix, seen raw."""
    prefix = f"agentos-test:{uuid.uuid4().hex}:"
    state = connect_state(redis_url, prefix=prefix)
    raw = RedisState.from_url(redis_url, prefix="")
    try:
        await state.set("probe", "here")

        assert state.backend == "redis"
        assert await raw.get(f"{prefix}probe") == b"here"
    finally:
        await state.delete_prefix("")
        await state.close()
        await raw.close()
