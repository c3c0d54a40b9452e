"""A Redis that is down or hung answers ``DependencyDown`` within about a second.

No real Redis is needed: one test points the adapter at a port where nothing
listens, the other at a server that accepts connections and never answers.
The elapsed times are loose upper bounds; the point is the error's type and
that it comes in seconds, not after redis-py's default of five per attempt.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from agentos import errors
from agentos.state import RedisState, Script

PING = Script("test.ping", "return 1", lambda *_: 1)

Operation = Callable[[RedisState], Awaitable[object]]


async def _enter_subscription(state: RedisState) -> None:
    async with state.subscribe("news"):
        pass


OPERATIONS = [
    pytest.param(lambda s: s.get("k"), id="get"),
    pytest.param(lambda s: s.set("k", "v", ttl=5), id="set"),
    pytest.param(lambda s: s.incr("k", ttl=5), id="incr-with-ttl"),
    pytest.param(lambda s: s.run(PING, [], []), id="script"),
    pytest.param(lambda s: s.lock("l", ttl=5).acquire(blocking=False), id="lock"),
    pytest.param(lambda s: s.keys(""), id="scan"),
    pytest.param(lambda s: s.publish("news", "x"), id="publish"),
    pytest.param(_enter_subscription, id="subscribe"),
    pytest.param(lambda s: s.xreadgroup("g", "c", "s", block_ms=5000), id="xread"),
    pytest.param(lambda s: s.ping(), id="ping"),
]


# One call per distinct path: a command, a script, a subscription, a blocking read.
HUNG_OPERATIONS = [OPERATIONS[i] for i in (0, 3, 7, 8)]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def hung_port() -> AsyncIterator[int]:
    """A port whose server accepts connections, reads, and never replies."""

    async def swallow(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await reader.read(4096):
            pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def _fails_fast(state: RedisState, operation: Operation) -> errors.DependencyDown:
    started = time.monotonic()
    try:
        with pytest.raises(errors.DependencyDown) as caught:
            await operation(state)
    finally:
        await state.close()
    assert time.monotonic() - started < 3
    return caught.value


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_a_closed_port_raises_dependency_down_quickly(
    operation: Operation,
) -> None:
    """Nothing listening: every kind of call fails at once with the address."""
    port = _closed_port()
    state = RedisState.from_url(f"redis://127.0.0.1:{port}/0")

    error = await _fails_fast(state, operation)

    assert f"127.0.0.1:{port}" in error.message
    assert "does not answer" in error.message
    assert error.status == 503
    assert error.headers["Retry-After"] == "2"


@pytest.mark.parametrize("operation", HUNG_OPERATIONS)
async def test_a_redis_that_never_answers_times_out_as_dependency_down(
    operation: Operation, hung_port: int
) -> None:
    """A hung Redis costs about one read timeout, then fails like a dead one."""
    state = RedisState.from_url(f"redis://127.0.0.1:{hung_port}/0")

    error = await _fails_fast(state, operation)

    assert f"127.0.0.1:{hung_port}" in error.message
