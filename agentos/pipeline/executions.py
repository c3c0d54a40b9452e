"""Executions of ``mode: async`` actions: stored, run in the background, watched.

An async action answers 202 at once with an ``execution_id`` and a
``Location`` to ``GET /api/admin/action/status?execution_id=...``; the work
itself runs in a task of the worker that accepted it, and its row in
``action_executions`` tells the caller how it goes.

Theory of operation. An execution moves through::

    QUEUED ──started──▶ RUNNING ──returned──▶ SUCCEEDED
       │                   ├──raised──▶ FAILED
       └──────────┬────────┘
                  └──its process died or stopped──▶ INTERRUPTED

Work runs in the process that accepted it, so it is lost when that process
dies. Each process therefore stamps its queued and running executions
(``owner``, ``heartbeat_at``) every ``heartbeat_seconds``; at start-up, and
from then on with every heartbeat, an execution still QUEUED or RUNNING whose
heartbeat is older than ``grace_seconds`` is marked INTERRUPTED. The grace
period keeps one host from interrupting the live work of another. A process
that stops cleanly marks its own unfinished executions INTERRUPTED itself.

Operations report progress through the ``ExecutionContext`` they receive
(``await ctx.report_progress(0.5)``); a plain ``CallContext`` has no such
method, so an operation written for sync calls runs unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from agentos import errors
from agentos.logs import log_event
from agentos.services.base import CallContext
from agentos.store.base import Database, Row

logger = logging.getLogger("agentos.executions")

STATUS_PATH = "/api/admin/action/status"


class Status(enum.StrEnum):
    """Where an execution is."""

    QUEUED = "queued"  # stored, its task not started yet
    RUNNING = "running"  # its task is running the target operation
    SUCCEEDED = "succeeded"  # the operation returned; ``result`` holds it
    FAILED = "failed"  # the operation raised; ``error`` says what
    INTERRUPTED = "interrupted"  # its process stopped or died before the end


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.INTERRUPTED}),
    Status.RUNNING: frozenset({Status.SUCCEEDED, Status.FAILED, Status.INTERRUPTED}),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset(),
    Status.INTERRUPTED: frozenset(),
}
"""The states each state may move to; the last three are final."""

UNFINISHED = (Status.QUEUED.value, Status.RUNNING.value)


@dataclass(frozen=True)
class ExecutionContext(CallContext):
    """A call context that can also report the execution's progress."""

    execution_id: str = ""
    executions: Executions | None = dataclasses.field(default=None, compare=False)

    async def report_progress(self, fraction: float) -> None:
        """Store the progress (0 to 1) for the status endpoint."""
        if self.executions is not None:
            await self.executions.progress(self.execution_id, fraction)


Work = Callable[[ExecutionContext], Awaitable[Any]]


def plain(result: Any) -> Any:
    """A target's result as JSON-able data."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return result


def location(execution_id: str) -> str:
    """Where a caller follows an execution."""
    return f"{STATUS_PATH}?execution_id={execution_id}"


class Executions:
    """Stores executions, runs their work, and keeps their heartbeats."""

    def __init__(
        self,
        db: Database,
        *,
        heartbeat_seconds: float = 5.0,
        grace_seconds: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.heartbeat_seconds = heartbeat_seconds
        self.grace_seconds = grace_seconds
        self.owner = (
            owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._beat: asyncio.Task[None] | None = None

    async def submit(
        self, action: str, payload: Any, ctx: CallContext, work: Work
    ) -> dict[str, Any]:
        """Store a QUEUED execution and start ``work`` in the background."""
        execution_id, now = str(uuid.uuid4()), datetime.now(UTC)
        await self.db.execute(
            "INSERT INTO action_executions (id, action, status, payload, actor, "
            "trace_id, created_at, owner, heartbeat_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)",
            execution_id,
            action,
            Status.QUEUED.value,
            payload,
            ctx.principal.subject,
            ctx.trace_id,
            now,
            self.owner,
        )
        fields = {f.name: getattr(ctx, f.name) for f in dataclasses.fields(CallContext)}
        context = ExecutionContext(**fields, execution_id=execution_id, executions=self)
        task = asyncio.create_task(self._run(execution_id, action, work, context))
        self._tasks[execution_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(execution_id, None))
        return {"execution_id": execution_id, "status": Status.QUEUED.value}

    async def get(self, execution_id: str) -> Row | None:
        """The stored execution, or ``None``."""
        return await self.db.fetchrow(
            "SELECT id, action, status, progress, result, error, actor, trace_id, "
            "created_at, started_at, finished_at FROM action_executions WHERE id = $1",
            execution_id,
        )

    async def progress(self, execution_id: str, fraction: float) -> None:
        """Record how far a running execution is (clamped to 0..1)."""
        await self.db.execute(
            "UPDATE action_executions SET progress = $1, heartbeat_at = $2 "
            "WHERE id = $3 AND status = $4",
            min(max(float(fraction), 0.0), 1.0),
            datetime.now(UTC),
            execution_id,
            Status.RUNNING.value,
        )

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> int:
        """Start the heartbeat and interrupt the orphans of dead processes."""
        self._beat = asyncio.create_task(self._heartbeat(), name="executions-heartbeat")
        return await self.interrupt_orphans()

    async def close(self) -> None:
        """Stop the heartbeat; cancel this process's work and mark it interrupted."""
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        running = list(self._tasks.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        # If the database is gone, the next start interrupts them after the grace.
        with contextlib.suppress(errors.AgentOSError):
            await self._finish_owned(Status.INTERRUPTED, "the service stopped")

    async def interrupt_orphans(self) -> int:
        """Mark unfinished executions with a stale heartbeat INTERRUPTED."""
        now = datetime.now(UTC)
        stale = now - timedelta(seconds=self.grace_seconds)
        count = await self.db.execute(
            "UPDATE action_executions SET status = $1, finished_at = $2, error = $3 "
            "WHERE status IN ($4, $5) AND (heartbeat_at IS NULL OR heartbeat_at < $6)",
            Status.INTERRUPTED.value,
            now,
            "The process running this execution stopped before it finished; "
            "run the action again if its effect is still wanted.",
            *UNFINISHED,
            stale,
        )
        if count:
            log_event(logger, "execution.interrupted", logging.WARNING, count=count)
        return count

    # -- the work ----------------------------------------------------------

    async def _run(
        self, execution_id: str, action: str, work: Work, ctx: ExecutionContext
    ) -> None:
        try:
            await self._mark_running(execution_id)
            result = await work(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._finish(execution_id, Status.FAILED, error=_describe(exc))
            _log_failure(action, execution_id, exc)
            return
        await self._finish(
            execution_id, Status.SUCCEEDED, result=_stored(plain(result))
        )
        log_event(
            logger, "execution.succeeded", action=action, execution_id=execution_id
        )

    async def _mark_running(self, execution_id: str) -> None:
        now = datetime.now(UTC)
        await self.db.execute(
            "UPDATE action_executions SET status = $1, started_at = $2, "
            "heartbeat_at = $2 WHERE id = $3 AND status = $4",
            Status.RUNNING.value,
            now,
            execution_id,
            Status.QUEUED.value,
        )

    async def _finish(
        self,
        execution_id: str,
        status: Status,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> None:
        progress = 1.0 if status is Status.SUCCEEDED else None
        try:
            await self.db.execute(
                "UPDATE action_executions SET status = $1, result = $2, error = $3, "
                "finished_at = $4, progress = COALESCE($5, progress) "
                "WHERE id = $6 AND status = $7",
                status.value,
                result,
                error,
                datetime.now(UTC),
                progress,
                execution_id,
                Status.RUNNING.value,
            )
        except errors.AgentOSError as exc:
            log_event(
                logger,
                "execution.unrecorded",
                logging.ERROR,
                execution_id=execution_id,
                status=status.value,
                reason=exc.message,
            )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.db.execute(
                    "UPDATE action_executions SET heartbeat_at = $1 "
                    "WHERE owner = $2 AND status IN ($3, $4)",
                    datetime.now(UTC),
                    self.owner,
                    *UNFINISHED,
                )
                await self.interrupt_orphans()
            except errors.AgentOSError as exc:
                log_event(
                    logger,
                    "execution.heartbeat_failed",
                    logging.WARNING,
                    reason=exc.message,
                )

    async def _finish_owned(self, status: Status, reason: str) -> None:
        await self.db.execute(
            "UPDATE action_executions SET status = $1, finished_at = $2, error = $3 "
            "WHERE owner = $4 AND status IN ($5, $6)",
            status.value,
            datetime.now(UTC),
            reason,
            self.owner,
            *UNFINISHED,
        )


def _stored(result: Any) -> Any:
    # The column holds a JSON document; a bare value is wrapped to be one.
    return (
        result
        if isinstance(result, dict | list) or result is None
        else {"value": result}
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, errors.AgentOSError):
        return f"{exc.error_code}: {exc.message}"
    return "INTERNAL_ERROR: the operation failed; the logs hold the details."


def _log_failure(action: str, execution_id: str, exc: Exception) -> None:
    if isinstance(exc, errors.AgentOSError) and exc.status < 500:
        log_event(
            logger,
            "execution.failed",
            action=action,
            execution_id=execution_id,
            error_code=exc.error_code,
        )
        return
    logger.error(
        "execution.failed",
        exc_info=exc,
        extra={"fields": {"action": action, "execution_id": execution_id}},
    )


def describe(row: Row) -> dict[str, Any]:
    """An execution as the status endpoint shows it."""
    shown = {
        key: row[key] for key in ("action", "status", "progress", "result", "error")
    }
    times = ("created_at", "started_at", "finished_at")
    return {
        "execution_id": str(row["id"]),
        **shown,
        "actor": row["actor"],
        **{key: row[key].isoformat() if row[key] else None for key in times},
        "location": location(str(row["id"])),
    }
