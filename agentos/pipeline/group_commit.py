"""Group commit: many callers' writes committed together, each awaiting its own.

A ``GroupCommit`` owns one task. A caller ``submit``s an item and awaits its
result; the task takes everything queued (up to ``max_batch``), waits
``window_seconds`` for more if asked to, and hands the batch to ``commit``,
a coroutine that writes it in one go and returns one result per item, in
order. While a commit is in flight new items queue up, so the next batch
gathers by itself: more load makes batches bigger, not commits more
frequent. When ``commit`` raises, every item of the batch fails with that
exception; a result that is a ``Failed`` fails its item alone. A caller
that has gone away meanwhile leaves its failure unread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from agentos import errors

logger = logging.getLogger("agentos.audit")

T = TypeVar("T")
R = TypeVar("R")


class Failed(Generic[R]):
    """A commit's result for an item that failed while others of its batch held."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class GroupCommit(Generic[T, R]):
    """A queue of items written in batches by one task."""

    def __init__(
        self,
        name: str,
        commit: Callable[[list[T]], Awaitable[list[R | Failed[R]]]],
        *,
        window_seconds: float = 0.0,
        max_batch: int = 500,
    ) -> None:
        self.name = name
        self.commit = commit
        self.window_seconds = window_seconds
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def running(self) -> bool:
        """Whether items are accepted."""
        return self._task is not None and not self._closing

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait until its batch is committed."""
        if not self.running:
            raise errors.DependencyDown(f"The {self.name} writer is not running.")
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        self._wake.set()
        return await done

    def start(self) -> None:
        """Start the task."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self.window_seconds and not self._closing:
                await asyncio.sleep(self.window_seconds)
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            if not self._queue:
                self._wake.clear()
            if batch:
                await self._commit(batch)
            if self._closing and not self._queue:
                return

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self.commit([item for item, _ in batch])
        except Exception as exc:  # every item fails with it; the task lives on
            if not isinstance(exc, errors.AgentOSError):
                logger.exception(
                    "audit.batch_failed", extra={"fields": {"lane": self.name}}
                )
            for _, done in batch:
                _settle(done, exc)
            return
        for (_, done), result in zip(batch, results, strict=True):
            if isinstance(result, Failed):
                _settle(done, result.error)
            elif not done.done():
                done.set_result(result)


def _settle(done: asyncio.Future[R], exc: Exception) -> None:
    if not done.done():
        done.set_exception(exc)
        done.exception()  # retrieved: a caller that went away must not warn
