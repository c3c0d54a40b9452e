"""The one place where redis-py's exceptions become the project's errors.

Nothing above the Redis adapter sees a driver exception. The translation::

    redis.exceptions.RedisError
    ├── AuthenticationError   -> DependencyDown  (fix the credentials)
    ├── ConnectionError       -> DependencyDown  (start or reach Redis)
    ├── TimeoutError          -> DependencyDown  (Redis is hung or too slow)
    └── ResponseError
        ├── ReadOnlyError     -> DependencyDown  (a replica, not the primary)
        ├── OutOfMemoryError  -> DependencyDown  (Redis is full)
        └── anything else     -> AgentOSError    (a command met the wrong data:
                                                  a bug in the caller)

``DependencyDown`` answers 503 with ``Retry-After``; each message names the
Redis address and what to check.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    TimeoutError,
)

from agentos import errors
from agentos.state.base import refused

OUTAGES = (ConnectionError, TimeoutError, ReadOnlyError, OutOfMemoryError)
"""The redis-py exceptions that mean Redis cannot serve, whatever was asked."""

RETRY_AFTER = 2.0


class _Addressed(Protocol):
    address: str


S = TypeVar("S", bound=_Addressed)
P = ParamSpec("P")
R = TypeVar("R")


def translate(exc: RedisError, address: str) -> errors.AgentOSError:
    """The project's error for a redis-py exception from the Redis at ``address``."""
    where = f"Redis at {address}"
    if isinstance(exc, AuthenticationError):
        return _down(
            f"{where} rejected our credentials; check the user and password in "
            "AGENTOS_REDIS_URL."
        )
    if isinstance(exc, ReadOnlyError):
        return _down(
            f"{where} is a read-only replica; point AGENTOS_REDIS_URL at the primary."
        )
    if isinstance(exc, OutOfMemoryError):
        return _down(f"{where} is out of memory; check its maxmemory setting.")
    if isinstance(exc, OUTAGES):
        reason = str(exc).rstrip(".") or type(exc).__name__
        return _down(
            f"{where} does not answer ({reason}); check that it is running and "
            "reachable from this host."
        )
    return refused(f"{where} answered {exc}")


def translated(
    method: Callable[Concatenate[S, P], Awaitable[R]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Wrap an adapter method so that redis-py exceptions leave it translated."""

    async def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(self, *args, **kwargs)
        except RedisError as exc:
            raise translate(exc, self.address) from exc

    functools.update_wrapper(call, method)
    return call


def _down(message: str) -> errors.DependencyDown:
    return errors.DependencyDown(message, retry_after=RETRY_AFTER)
