"""Shared state: one async interface, an in-memory and a Redis adapter.

``connect_state`` picks the adapter from the configuration: no Redis URL
means the embedded in-memory state, which serves a single worker only.
"""

from __future__ import annotations

from agentos.state.base import Lock, Script, StateStore, StreamEntry, Value
from agentos.state.memory import MemoryState
from agentos.state.redis import RedisState

__all__ = [
    "Lock",
    "MemoryState",
    "RedisState",
    "Script",
    "StateStore",
    "StreamEntry",
    "Value",
    "connect_state",
]


def connect_state(redis_url: str | None, *, prefix: str = "agentos:") -> StateStore:
    """The Redis state at ``redis_url`` (keys under ``prefix``), else memory.

    Nothing is sent to Redis yet: the first command connects, and an
    unreachable Redis raises ``errors.DependencyDown`` then.
    """
    if not redis_url:
        return MemoryState()
    return RedisState.from_url(redis_url, prefix=prefix)
