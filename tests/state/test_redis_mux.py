"""The multiplexed Redis connection: order, batching, timeouts, lost connections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import uvloop
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, NoScriptError, ResponseError, TimeoutError

from agentos import errors
from agentos.state import RedisState
from agentos.state.base import Script
from agentos.state.redis_mux import MultiplexedRedis, pack


@pytest.fixture
async def mux(redis_url: str) -> AsyncIterator[MultiplexedRedis]:
    """A multiplexed client of the test Redis."""
    client = MultiplexedRedis(redis_url, timeout=1.0)
    yield client
    await client.close()


@pytest.fixture
def key() -> str:
    """A key of this test's own."""
    return f"agentos-test:{uuid.uuid4().hex}:mux"


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_concurrent_commands_get_their_own_replies(
    mux: MultiplexedRedis, key: str
) -> None:
    """Replies come back in send order, each to the command that asked."""
    await mux.execute("DEL", key)

    counts = await asyncio.gather(*(mux.execute("INCR", key) for _ in range(500)))
    echoes = await asyncio.gather(*(mux.execute("ECHO", f"m{i}") for i in range(200)))

    assert sorted(counts) == list(range(1, 501))
    assert echoes == [f"m{i}".encode() for i in range(200)]
    await mux.execute("DEL", key)


async def test_an_error_reply_is_redis_pys_exception_and_the_next_command_works(
    mux: MultiplexedRedis, key: str
) -> None:
    """A wrong-type command raises ResponseError; the connection stays usable."""
    await mux.execute("SET", key, "text")

    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await mux.execute("HGET", key, "field")
    with pytest.raises(NoScriptError):
        await mux.execute("EVALSHA", "0" * 40, 0)

    assert await mux.execute("GET", key) == b"text"
    await mux.execute("DEL", key)


async def test_a_hung_redis_fails_every_waiting_command_within_the_timeout(
    silent_server: str,
) -> None:
    """No answer within the timeout: all commands fail with TimeoutError at once."""
    client = MultiplexedRedis(silent_server, timeout=0.3)
    loop = asyncio.get_running_loop()

    # The handshake itself waits on the hung server.
    started = loop.time()
    results = await asyncio.gather(
        *(client.execute("GET", "x") for _ in range(5)), return_exceptions=True
    )
    elapsed = loop.time() - started

    assert all(isinstance(result, TimeoutError) for result in results), results
    assert elapsed < 1.5
    await client.close()


async def test_nothing_listening_is_a_connection_error() -> None:
    """A refused connection is redis-py's ConnectionError, not a hang."""
    client = MultiplexedRedis("redis://127.0.0.1:1/0", timeout=0.5)

    with pytest.raises(ConnectionError):
        await client.execute("PING")


async def test_a_killed_connection_fails_waiting_commands_and_the_next_one_reconnects(
    mux: MultiplexedRedis, redis_url: str, key: str
) -> None:
    """CLIENT KILL from outside: waiting commands fail; the client heals itself."""
    await mux.execute("PING")
    admin = Redis.from_url(redis_url)
    client_id = await mux.execute("CLIENT", "ID")

    blocked = asyncio.ensure_future(mux.execute("BLPOP", key, 5))
    await asyncio.sleep(0.05)
    await admin.execute_command("CLIENT", "KILL", "ID", client_id)

    with pytest.raises(ConnectionError):
        await blocked
    assert await mux.execute("PING") == b"PONG"
    assert await mux.execute("CLIENT", "ID") != client_id
    await admin.aclose()


async def test_a_caller_that_gives_up_does_not_shift_the_replies(
    mux: MultiplexedRedis, key: str
) -> None:
    """A cancelled command's reply is dropped; later commands get their own."""
    await mux.execute("SET", key, "kept")
    abandoned = asyncio.ensure_future(mux.execute("ECHO", "abandoned"))
    following = asyncio.ensure_future(mux.execute("GET", key))

    await asyncio.sleep(0)
    abandoned.cancel()

    assert await following == b"kept"
    assert await mux.execute("ECHO", "after") == b"after"
    await mux.execute("DEL", key)


def test_the_client_works_on_uvloop(redis_url: str, key: str) -> None:
    """The service runs on uvloop, whose transports are not asyncio's classes."""

    async def roundtrip() -> bytes:
        client = MultiplexedRedis(redis_url, timeout=1.0)
        try:
            await client.execute("SET", key, "uv")
            value: bytes = await client.execute("GET", key)
            await client.execute("DEL", key)
            return value
        finally:
            await client.close()

    assert uvloop.run(roundtrip()) == b"uv"


async def test_a_state_script_runs_again_after_redis_forgets_it(redis_url: str) -> None:
    """SCRIPT FLUSH on the server: the adapter sends the body by EVAL and goes on."""
    state = RedisState.from_url(redis_url, prefix=f"agentos-test:{uuid.uuid4().hex}:")
    script = Script(
        name="mux-test-double",
        lua="return tonumber(ARGV[1]) * 2",
        python=lambda view, keys, args, now: int(args[0]) * 2,
    )
    admin = Redis.from_url(redis_url)

    assert await state.run(script, [], [21]) == 42
    await admin.script_flush()
    assert await state.run(script, [], [5]) == 10

    await admin.aclose()
    await state.close()


async def test_a_script_error_is_the_projects_error(redis_url: str) -> None:
    """A failing script names itself; it is not an outage."""
    state = RedisState.from_url(redis_url, prefix=f"agentos-test:{uuid.uuid4().hex}:")
    script = Script(
        name="mux-test-broken",
        lua="return redis.call('NOSUCHCOMMAND')",
        python=lambda view, keys, args, now: None,
    )

    with pytest.raises(errors.AgentOSError, match="mux-test-broken") as raised:
        await state.run(script, [], [])

    assert not isinstance(raised.value, errors.DependencyDown)
    await state.close()


@pytest.mark.parametrize(
    ("args", "parts"),
    [
        pytest.param(("GET", "k"), [b"GET", b"k"], id="text"),
        pytest.param(("INCRBY", "k", -7), [b"INCRBY", b"k", b"-7"], id="int"),
        pytest.param(("SET", "k", 0.5), [b"SET", b"k", b"0.5"], id="float"),
        pytest.param(("SET", "k", b"\r\n"), [b"SET", b"k", b"\r\n"], id="bytes"),
        pytest.param(("SET", "k", "é"), [b"SET", b"k", b"\xc3\xa9"], id="utf8"),
    ],
)
def test_commands_are_packed_as_arrays_of_bulk_strings(
    args: tuple[object, ...], parts: list[bytes]
) -> None:
    """Every argument is a length-prefixed bulk string; lengths count bytes."""
    wire = b"*%d\r\n" % len(parts) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in parts
    )

    assert pack(args) == wire  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [True, None, object()], ids=["bool", "none", "object"])
def test_arguments_redis_cannot_hold_are_refused(bad: object) -> None:
    """A bool or an object is a caller's bug, refused before anything is sent."""
    with pytest.raises(TypeError):
        pack(("SET", "k", bad))  # type: ignore[arg-type]
