"""One multiplexed connection to Redis for every command that never blocks.

Why not redis-py's pool for these: on this project's 2-core reference
machine one redis-py asyncio command costs 50-90 us of client CPU (a pool
checkout, a retry wrapper, a timeout context around every read, packing and
parsing in Python), so a request that makes seven of them spends up to half
a millisecond in the client alone. The same command on one connection that
every task of the worker shares costs 3-15 us, less the more tasks share a
write: commands issued in the same turn of the event loop go out in one
write, and their replies come back in one read. ``bench/redis_client_bench.py``
measures both. (valkey-glide, which multiplexes in Rust, measured about
50 us per command here.)

How it works:

* **Order.** Redis answers the commands of one connection in the order they
  were sent, so each reply resolves the oldest waiting future. hiredis packs
  the commands and parses the replies.
* **Batching.** A command is packed into the outgoing buffer at once and the
  buffer is written once per event-loop turn, so a burst of concurrent
  requests shares a system call.
* **Timeouts.** A watchdog looks at the oldest unanswered command. Since
  every command here returns at once and they are answered in order, the
  oldest one's age bounds every other's: once it exceeds ``timeout``, the
  connection is taken to be hung, it is closed, and every waiting command
  fails with ``TimeoutError``. No timer per command.
* **A lost connection** fails every waiting command with
  ``ConnectionError``; the next command connects again. Nothing is retried
  here: a command that was sent may have run.
* **Cancellation.** A caller that stops waiting leaves its place in the
  queue; its reply is read and dropped.
* **Errors.** Error replies become redis-py's exception classes, chosen by
  redis-py's own table, so ``redis_errors.translated`` treats both clients'
  failures alike.

Never send a blocking command (BLPOP, XREAD BLOCK, SUBSCRIBE, WAIT) here: it
would stall every command behind it and trip the watchdog. Those stay on
redis-py's pool (see ``redis_messaging``).
"""

from __future__ import annotations

import asyncio
import builtins
import ssl
from collections import deque
from collections.abc import Awaitable, Sequence
from typing import Any, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import AuthenticationError, ConnectionError, TimeoutError

Arg = bytes | str | int | float


def pack(args: Sequence[Arg]) -> bytes:
    """One command in the Redis protocol: an array of bulk strings.

    hiredis packs it in C (a quarter of the time of packing in Python); an
    argument Redis cannot hold is refused with a message that names it.
    """
    try:
        # hiredis's stub types the argument as a one-item tuple; any length works
        packed: bytes = hiredis.pack_command(tuple(args))  # type: ignore[arg-type]
        return packed
    except TypeError:
        raise TypeError(_unsendable(args)) from None


def _unsendable(args: Sequence[object]) -> str:
    for arg in args:
        if isinstance(arg, bool):
            return "Send a bool as 0 or 1 explicitly; Redis has no bool type."
        if not isinstance(arg, bytes | str | int | float):
            return f"Cannot send a {type(arg).__name__} to Redis."
    return "Redis arguments must be bytes, str, int or float."


def reply_error(message: str) -> Exception:
    """The redis-py exception for an error reply, as redis-py would choose it."""
    error: Exception = BaseParser.parse_error(message)  # type: ignore[no-untyped-call]
    return error


class _Wire(asyncio.Protocol):
    """One connection: an outgoing buffer, and futures waiting in send order."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self.loop = self._loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader()
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._outgoing: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed = False
        self.reason: Exception | None = None

    # -- the protocol callbacks ----------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self.abort(ConnectionError(f"Redis sent a reply we cannot read: {exc}"))
                return
            if reply is False:
                return
            if not waiting:
                self.abort(ConnectionError("Redis sent a reply nobody asked for."))
                return
            future, _ = waiting.popleft()
            if future.done():  # its caller gave up waiting
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(reply_error(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.reason or ConnectionError(
            f"the connection to Redis closed ({exc or 'by the server'})"
        )
        self._fail_all(reason)

    # -- sending --------------------------------------------------------------

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue one packed command; its reply resolves the returned future."""
        if self.closed:
            raise self.reason or ConnectionError("the connection to Redis is closed")
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(command)
        future = self._loop.create_future()
        now = self._loop.time()
        self._waiting.append((future, now))
        if self._watchdog is None:
            self._watchdog = self._loop.call_at(now + self._timeout, self._watch)
        return future

    def _flush(self) -> None:
        if self._outgoing and self._transport is not None and not self.closed:
            self._transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def _watch(self) -> None:
        self._watchdog = None
        if not self._waiting or self.closed:
            return
        _, since = self._waiting[0]
        due = since + self._timeout
        if self._loop.time() >= due:
            self.abort(TimeoutError(f"Redis did not answer within {self._timeout} s"))
            return
        self._watchdog = self._loop.call_at(due, self._watch)

    # -- closing --------------------------------------------------------------

    def abort(self, reason: Exception) -> None:
        """Close the connection now and fail every waiting command with ``reason``."""
        self.reason = reason
        if self._transport is not None:
            self._transport.abort()
        self._fail_all(reason)

    def close(self) -> None:
        """Close the connection after what is written has been sent."""
        self.reason = self.reason or ConnectionError("the Redis client was closed")
        if self._transport is not None:
            self._transport.close()
        self._fail_all(self.reason)

    def _fail_all(self, reason: Exception) -> None:
        self.closed = True
        self._outgoing.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(reason)


class MultiplexedRedis:
    """Commands to the Redis at ``url`` over one shared connection per process.

    The connection opens on the first command and again after it is lost.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        connect_timeout: float | None = None,
        client_name: str = "agentos",
    ) -> None:
        self._options = parse_url(url)
        self._timeout = timeout
        self._connect_timeout = connect_timeout or timeout
        self._client_name = client_name
        self._wire: _Wire | None = None
        self._connecting: asyncio.Task[_Wire] | None = None

    def execute(self, *args: Arg) -> Awaitable[Any]:
        """Send one command; await the result for its decoded reply.

        On an open connection the command is queued at once and the reply's
        future itself is returned: no coroutine frame is resumed per reply.
        """
        wire = self._wire
        if wire is None or wire.closed or wire.loop is not asyncio.get_running_loop():
            return self._connect_and_send(pack(args))
        return wire.send(pack(args))

    async def _connect_and_send(self, command: bytes) -> Any:
        wire = await self._connected()
        return await wire.send(command)

    async def close(self) -> None:
        """Close the connection; the next command would open a new one."""
        wire, self._wire = self._wire, None
        if wire is not None and not wire.closed:
            wire.close()

    # -- connecting ------------------------------------------------------------

    async def _connected(self) -> _Wire:
        # Concurrent first commands share one attempt to connect.
        loop = asyncio.get_running_loop()
        if self._connecting is None or self._connecting.get_loop() is not loop:
            self._connecting = loop.create_task(self._connect())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _connect(self) -> _Wire:
        loop = asyncio.get_running_loop()
        options = self._options
        try:
            async with asyncio.timeout(self._connect_timeout):
                if options.get("path"):
                    _, wire = await loop.create_unix_connection(
                        lambda: _Wire(self._timeout), options["path"]
                    )
                else:
                    _, wire = await loop.create_connection(
                        lambda: _Wire(self._timeout),
                        options.get("host", "localhost"),
                        options.get("port", 6379),
                        ssl=self._tls(),
                    )
                await self._handshake(wire)
        except TimeoutError:  # redis-py's: the handshake's command timed out
            raise
        except builtins.TimeoutError as exc:  # asyncio.timeout's: connecting did
            raise TimeoutError(
                f"connecting to Redis took longer than {self._connect_timeout} s"
            ) from exc
        except OSError as exc:
            raise ConnectionError(f"cannot connect to Redis: {exc}") from exc
        self._wire = wire
        return wire

    def _tls(self) -> ssl.SSLContext | None:
        # rediss:// URLs: verify the server against the system's CA bundle.
        connection_class = self._options.get("connection_class")
        if connection_class is not None and issubclass(connection_class, SSLConnection):
            return ssl.create_default_context()
        return None

    async def _handshake(self, wire: _Wire) -> None:
        options = self._options
        steps: list[tuple[Arg, ...]] = []
        if options.get("password"):
            user = options.get("username")
            secret = options["password"]
            steps.append(("AUTH", user, secret) if user else ("AUTH", secret))
        if options.get("db"):
            steps.append(("SELECT", int(options["db"])))
        steps.append(("CLIENT", "SETNAME", self._client_name))
        replies = [wire.send(pack(step)) for step in steps]
        try:
            await asyncio.gather(*replies)
        except AuthenticationError:
            wire.abort(ConnectionError("Redis refused our credentials"))
            raise
        except Exception:
            wire.abort(ConnectionError("the Redis handshake failed"))
            raise
