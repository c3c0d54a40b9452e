"""The Redis adapter of the shared state.

Each connection setting below is chosen, because redis-py's defaults would
hurt a control plane:

* **Timeouts.** Connecting and reading give up after one second, not five, so
  a dead or hung Redis turns into ``DependencyDown`` within about a second.
* **Retries.** One retry, after a short jittered pause, on connection errors
  only: a connection that breaks under a command (Redis restarting, a
  failover, a proxy dropping it) gets one fresh attempt. Sockets that Redis
  closed while idle are replaced by the pool before use anyway. A timeout is
  not retried, since Redis may have run the command and a retry would double
  the wait. A command whose connection broke after it was sent may run twice;
  a counter may then count one extra.
* **One multiplexed connection** (``redis_mux``) carries every command that
  never blocks: keys, hashes, sorted sets, scripts. It costs a fraction of
  redis-py's client CPU per command and has a watchdog instead of a timer
  per command. It never retries: a command whose connection broke may
  have run, so the caller sees ``DependencyDown`` and the next command
  connects again.
* **Pool.** redis-py's ``BlockingConnectionPool`` serves what may block or
  iterate (SCAN, streams); a burst waits up to ``pool_timeout`` for a free
  connection rather than failing outright.
* **Pub/sub** subscriptions hold connections from a pool of their own, and
  **blocking stream reads** wait in slices shorter than the read timeout
  (see ``redis_messaging``).
* **RESP2**, the reply shapes that every Redis version gives and that Lua
  replies are converted to.

Every key, channel and stream name gets the namespace ``prefix``, so that
several deployments (or test runs) can share one Redis. Script bodies must
therefore take every key from ``KEYS``; a key name built inside Lua would
miss the namespace.

Driver exceptions stop at this adapter, translated by ``redis_errors``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

from agentos import errors
from agentos.state.base import Script, Value, encode, ttl_ms
from agentos.state.lock import StoreLock
from agentos.state.redis_errors import OUTAGES, translated
from agentos.state.redis_messaging import RedisMessaging, text
from agentos.state.redis_mux import MultiplexedRedis
from agentos.state.scripts import INCR_WITH_TTL, redis_reply

DEFAULT_TIMEOUT = 1.0
SCAN_BATCH = 500

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def _connection_options(timeout: float) -> dict[str, Any]:
    retry = Retry(EqualJitterBackoff(cap=0.2, base=0.02), 1, (ConnectionError,))
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": retry,
        "protocol": 2,
        "client_name": "agentos",
    }


class RedisState(RedisMessaging):
    """The ``StateStore`` over ``redis.asyncio``, inside one key namespace."""

    backend = "redis"

    def __init__(
        self,
        commands: Redis,
        listener: Redis,
        mux: MultiplexedRedis,
        *,
        prefix: str,
        timeout: float,
    ) -> None:
        self.prefix = prefix
        self._redis = commands
        self._listener = listener
        self._mux = mux
        self._timeout = timeout
        self._scripts: dict[Script, str] = {}
        where = commands.connection_pool.connection_kwargs
        self.address = where.get("path") or f"{where.get('host')}:{where.get('port')}"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "agentos:",
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 50,
        pool_timeout: float = DEFAULT_TIMEOUT,
    ) -> RedisState:
        """Connect lazily to the Redis at ``url``; nothing is sent until used."""
        options = _connection_options(timeout)
        commands = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=pool_timeout, **options
        )
        listeners = ConnectionPool.from_url(url, **options)
        return cls(
            Redis.from_pool(commands),
            Redis.from_pool(listeners),
            MultiplexedRedis(url, timeout=timeout),
            prefix=prefix,
            timeout=timeout,
        )

    def check_workers(self, workers: int) -> None:
        """Any number of workers can share one Redis."""

    # -- keys --------------------------------------------------------------

    @translated
    async def get(self, key: str) -> bytes | None:
        """The string at ``key``."""
        value: bytes | None = await self._mux.execute("GET", self._key(key))
        return value

    @translated
    async def set(
        self, key: str, value: Value, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        """Store ``value``; with ``nx`` only if absent."""
        command: list[Value] = ["SET", self._key(key), encode(value)]
        if ttl is not None:
            command += ["PX", ttl_ms(ttl)]
        if nx:
            command.append("NX")
        return await self._mux.execute(*command) is not None

    @translated
    async def delete(self, *keys: str) -> int:
        """Remove ``keys``; return how many existed."""
        if not keys:
            return 0
        return int(await self._mux.execute("UNLINK", *map(self._key, keys)))

    @translated
    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds anything."""
        return bool(await self._mux.execute("EXISTS", self._key(key)))

    @translated
    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add ``amount``; a ``ttl`` is applied only when the key is created."""
        if ttl is None:
            return int(await self._mux.execute("INCRBY", self._key(key), amount))
        return int(await self.run(INCR_WITH_TTL, [key], [amount, ttl_ms(ttl)]))

    @translated
    async def expire(self, key: str, ttl: float) -> bool:
        """Expire ``key`` in ``ttl`` seconds; ``False`` if it is absent."""
        return bool(await self._mux.execute("PEXPIRE", self._key(key), ttl_ms(ttl)))

    @translated
    async def ttl(self, key: str) -> float | None:
        """Seconds left, or ``None``."""
        ms = await self._mux.execute("PTTL", self._key(key))
        return None if ms < 0 else ms / 1000

    @translated
    async def keys(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``, found with SCAN."""
        return [name[len(self.prefix) :] async for name in self._scan(prefix)]

    @translated
    async def delete_prefix(self, prefix: str) -> int:
        """Remove every key that starts with ``prefix``, a batch at a time."""
        removed, batch = 0, []
        async for name in self._scan(prefix):
            batch.append(name)
            if len(batch) == SCAN_BATCH:
                removed += await self._redis.unlink(*batch)
                batch = []
        if batch:
            removed += await self._redis.unlink(*batch)
        return removed

    async def _scan(self, prefix: str) -> AsyncIterator[str]:
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self._key(prefix)) + "*"
        async for name in self._redis.scan_iter(match=pattern, count=SCAN_BATCH):
            yield text(name)

    # -- hashes and sorted sets --------------------------------------------

    @translated
    async def hset(self, key: str, mapping: dict[str, Value]) -> None:
        """Set fields of the hash at ``key``."""
        if mapping:
            pairs = [part for item in mapping.items() for part in item]
            await self._mux.execute("HSET", self._key(key), *map(encode, pairs))

    @translated
    async def hget(self, key: str, field: str) -> bytes | None:
        """One field of the hash at ``key``."""
        value: bytes | None = await self._mux.execute("HGET", self._key(key), field)
        return value

    @translated
    async def hgetall(self, key: str) -> dict[str, bytes]:
        """Every field of the hash at ``key``."""
        flat = await self._mux.execute("HGETALL", self._key(key))
        return {text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}

    @translated
    async def hdel(self, key: str, *fields: str) -> int:
        """Remove fields; return how many existed."""
        if not fields:
            return 0
        return int(await self._mux.execute("HDEL", self._key(key), *fields))

    @translated
    async def hincrby(self, key: str, field: str, amount: int = 1) -> int:
        """Add ``amount`` to an integer field."""
        return int(await self._mux.execute("HINCRBY", self._key(key), field, amount))

    @translated
    async def zadd(self, key: str, mapping: dict[str, float]) -> int:
        """Add members; return how many were new."""
        if not mapping:
            return 0
        pairs = [part for member, score in mapping.items() for part in (score, member)]
        return int(await self._mux.execute("ZADD", self._key(key), *pairs))

    @translated
    async def zrem(self, key: str, *members: str) -> int:
        """Remove members; return how many existed."""
        if not members:
            return 0
        return int(await self._mux.execute("ZREM", self._key(key), *members))

    @translated
    async def zrange(
        self, key: str, start: int = 0, stop: int = -1, *, withscores: bool = False
    ) -> list[str] | list[tuple[str, float]]:
        """Members by ascending score, ``stop`` inclusive."""
        command: list[Value] = ["ZRANGE", self._key(key), start, stop]
        if withscores:
            command.append("WITHSCORES")
        reply = await self._mux.execute(*command)
        if withscores:
            pairs = range(0, len(reply), 2)
            return [(text(reply[i]), float(reply[i + 1])) for i in pairs]
        return [text(member) for member in reply]

    @translated
    async def zcard(self, key: str) -> int:
        """How many members the set has."""
        return int(await self._mux.execute("ZCARD", self._key(key)))

    @translated
    async def zscore(self, key: str, member: str) -> float | None:
        """The score of ``member``."""
        score = await self._mux.execute("ZSCORE", self._key(key), member)
        return None if score is None else float(score)

    # -- scripts and locks -------------------------------------------------

    @translated
    async def run(
        self, script: Script, keys: Sequence[str], args: Sequence[Value]
    ) -> Any:
        """Run the script's Lua body by EVALSHA, sending the body if Redis forgot it."""
        sha = self._scripts.get(script)
        if sha is None:
            sha = self._scripts[script] = hashlib.sha1(script.lua.encode()).hexdigest()

        names = [self._key(key) for key in keys]
        tail = (len(names), *names, *args)
        try:
            try:
                reply = await self._mux.execute("EVALSHA", sha, *tail)
            except NoScriptError:  # a restarted or flushed Redis: EVAL caches it again
                reply = await self._mux.execute("EVAL", script.lua, *tail)
        except ResponseError as exc:
            if isinstance(exc, OUTAGES):
                raise
            message = f"The state script {script.name} failed: {exc}"
            raise errors.AgentOSError(message) from exc
        return redis_reply(reply)

    def lock(self, name: str, ttl: float, *, wait: float | None = None) -> StoreLock:
        """A lock named ``name`` that expires ``ttl`` seconds after taking it."""
        return StoreLock(self, name, ttl, wait=wait)

    # -- lifecycle ---------------------------------------------------------

    @translated
    async def ping(self) -> float:
        """Round-trip a PING; return its latency in milliseconds."""
        started = time.perf_counter()
        await self._mux.execute("PING")
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        """Close both connection pools."""
        await self._mux.close()
        await self._redis.aclose()
        await self._listener.aclose()
