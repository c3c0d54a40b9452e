"""The scripts the adapters themselves use, and the shape of every script reply.

A ``Script`` answers the same on both adapters because both pass its result
through Redis's conversion of Lua values: ``redis_reply`` decodes what
redis-py hands back, ``lua_reply`` converts what a Python twin returns as
Redis would have converted the same value coming from Lua.

The scripts below are the adapters' own: a counter that takes its TTL only
when created, and the compare-and-delete and compare-and-expire steps that
make a lock safe against an owner whose lock already expired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentos.state.base import Script

if TYPE_CHECKING:
    from agentos.state.keyspace import Keyspace


def lua_reply(value: Any) -> Any:
    """Convert a Python twin's result as Redis converts a Lua script's result."""
    if value is None or value is False:
        return None
    if value is True:
        return 1
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, bytes):
        return value.decode(errors="surrogateescape")
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return _lua_array(value)
    raise TypeError(f"A script cannot return a {type(value).__name__}.")


def _lua_array(items: list[Any] | tuple[Any, ...]) -> list[Any]:
    # A Lua array ends at its first nil; false inside it is a nil reply.
    reply = []
    for item in items:
        if item is None:
            break
        reply.append(lua_reply(item))
    return reply


def redis_reply(value: Any) -> Any:
    """Decode the bulk strings in a script reply from redis-py into ``str``."""
    if isinstance(value, bytes):
        return value.decode(errors="surrogateescape")
    if isinstance(value, list):
        return [redis_reply(item) for item in value]
    return value


# -- a counter whose TTL starts when it is created --------------------------

_INCR_WITH_TTL_LUA = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""


def _incr_with_ttl(view: Keyspace, keys: list[str], args: list[str], now: float) -> int:
    created = not view.exists(keys[0])
    value = view.incr(keys[0], int(args[0]))
    if created:
        view.expire(keys[0], int(args[1]) / 1000)
    return value


INCR_WITH_TTL = Script("state.incr_with_ttl", _INCR_WITH_TTL_LUA, _incr_with_ttl)
"""``KEYS[1]`` counter; ``ARGV`` amount, TTL in milliseconds. Returns the count."""


# -- lock steps that only the owner's token may take -----------------------

_RELEASE_LOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def _release_lock(view: Keyspace, keys: list[str], args: list[str], now: float) -> int:
    if view.get(keys[0]) != args[0].encode():
        return 0
    return view.delete(keys[0])


RELEASE_LOCK = Script("state.release_lock", _RELEASE_LOCK_LUA, _release_lock)
"""``KEYS[1]`` lock; ``ARGV`` owner token. Returns 1 if it was released."""


_EXTEND_LOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def _extend_lock(view: Keyspace, keys: list[str], args: list[str], now: float) -> bool:
    if view.get(keys[0]) != args[0].encode():
        return False
    return view.expire(keys[0], int(args[1]) / 1000)


EXTEND_LOCK = Script("state.extend_lock", _EXTEND_LOCK_LUA, _extend_lock)
"""``KEYS[1]`` lock; ``ARGV`` owner token, TTL in milliseconds. 1 if extended."""
