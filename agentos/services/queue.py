"""The dispatch queue: which queued job a worker of each agent type gets next.

Theory of operation. The jobs table says which jobs are queued; the state
store says in which order they go out. Each agent type has a ready set, a
sorted set scored by priority and then age (see ``queue_scripts``). A worker
claims with one script that checks the paused flag and pops the head
atomically, so one entry goes to one worker; the worker then moves the row
from ``queued`` to ``running`` with a compare-and-set, so a job that was
cancelled or claimed meanwhile is skipped rather than run twice.

Why sorted sets rather than Redis streams with consumer groups: a stream
delivers in append order only. Priorities that change after enqueue, and
cancellations that must take a job out of line, would need tombstones and
re-appends that every consumer filters, and the head of line could not be
read for ``/api/queue/details``. A sorted set gives priority order, removal
and re-scoring in O(log n), and ZPOPMIN inside a script gives the same
exactly-once hand-out that a consumer group's delivery gives. What streams
add - a pending list that survives a consumer's crash - the jobs table
already holds: a running job names its worker, and ``release`` puts a lost
worker's jobs back in line.

Pausing stops claims only; creating jobs (intake) goes on while paused.

Known shortcoming: the ready sets can fall behind the table, for instance
when the in-memory state starts empty after a restart while SQLite kept the
queued jobs, or when a worker dies between popping a job and marking it
running. Each process therefore rebuilds the ready sets from the table the
first time it dispatches (``rebuild``), once per state store, which rescues
both cases at the next start. A Redis that loses its data while the
processes keep running is not noticed until they restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from agentos.errors import AgentOSError, BadRequest
from agentos.logs import log_event
from agentos.services import queue_scripts as qs
from agentos.services.base import CallContext, Service, operation
from agentos.services.catalog import register
from agentos.services.records import Row, iso, public, utc_now

logger = logging.getLogger("agentos.queue")

CANCEL_CHANNEL = "queue:cancel"
"""Pub/sub channel on which a running job's cancellation is announced; the
message is ``{"job_id": ..., "worker_id": ...}`` as JSON."""

CLAIM_ATTEMPTS = 20
"""Stale entries (cancelled or already claimed jobs) one claim skips at most."""

MAX_DETAILS = 100
OWN_SCAN = 1000
"""How far down the line ``queued`` looks for a caller's own jobs."""

MAX_STATS_SAMPLES = 10_000
REMOVE_CHUNK = 500

_JOB_FIELDS = (
    "id, owner_id, kind, priority, agent_type, attempts, created_at, queued_at"
)


@register
class QueueService(Service):
    """Enqueue, claim, re-order and report on queued jobs."""

    name = "queue"

    def __init__(self, deps: Any) -> None:
        super().__init__(deps)
        self._built = False
        self._building = asyncio.Lock()

    # -- moving jobs in and out of line --------------------------------------

    async def enqueue(self, job: Row) -> None:
        """Put a queued job in its agent type's line at its priority and age."""
        value = qs.score(job["priority"], job["queued_at"])
        await self.state.run(
            qs.ENQUEUE,
            [qs.ready_key(job["agent_type"]), qs.TYPES_KEY],
            [job["id"], repr(value), job["agent_type"]],
        )

    async def discard(self, job: Row) -> None:
        """Take a job out of line (cancelled or started); absent is fine."""
        await self.state.zrem(qs.ready_key(job["agent_type"]), job["id"])

    async def rescore(self, job: Row) -> bool:
        """Move a waiting job to the place its current priority gives it."""
        value = qs.score(job["priority"], job["queued_at"])
        moved = await self.state.run(
            qs.RESCORE, [qs.ready_key(job["agent_type"])], [job["id"], repr(value)]
        )
        return bool(moved)

    async def claim(
        self, agent_type: str, worker_id: str, *, agent_id: str | None = None
    ) -> Row | None:
        """Hand the next job of ``agent_type`` to ``worker_id``, or ``None``.

        ``None`` means that nothing waits or that dispatch is paused
        (``paused()`` tells which). The job comes back ``running``, stamped
        with the worker and its start; no other claim can get it.
        """
        await self._ensure_built()
        keys = [qs.PAUSED_KEY, qs.ready_key(agent_type)]
        for _ in range(CLAIM_ATTEMPTS):
            head = await self.state.run(qs.CLAIM, keys, [])
            if not head:
                return None
            try:
                job = await self._start(head[0], worker_id, agent_id)
            except AgentOSError:
                await self._put_back(keys[1], head[0], float(head[1]))
                raise
            if job is not None:
                log_event(logger, "job.claimed", job_id=job["id"],
                          agent_type=agent_type, worker_id=worker_id)
                return public(job)
        return None

    async def _start(
        self, job_id: str, worker_id: str, agent_id: str | None
    ) -> Row | None:
        # queued -> running by claim (job_lifecycle.TRANSITIONS); the status
        # test makes a stale entry a no-op instead of a second run.
        now = utc_now()
        job: Row | None = await self.db.fetchrow(
            "UPDATE jobs SET status = 'running', worker_id = $2, agent_id = $3, "
            "started_at = $4, updated_at = $4 "
            "WHERE id = $1 AND status = 'queued' RETURNING *",
            job_id, worker_id, agent_id, now,
        )
        return job

    async def _put_back(self, key: str, job_id: str, value: float) -> None:
        # The database did not answer, so the popped job is still queued there:
        # it goes back in line rather than waiting for the next rebuild.
        try:
            await self.state.zadd(key, {job_id: value})
        except AgentOSError as exc:
            log_event(logger, "queue.put_back_failed", logging.WARNING,
                      job_id=job_id, reason=exc.message)

    async def release(self, worker_id: str) -> list[str]:
        """Put every job running on a lost worker back in line; return their ids.

        A released job keeps its priority and its first enqueue time, so it
        goes back near the front rather than behind jobs queued after it.
        """
        now = utc_now()
        rows = await self.db.fetch(
            "UPDATE jobs SET status = 'queued', worker_id = NULL, agent_id = NULL, "
            "started_at = NULL, progress = 0, updated_at = $2, "
            "queued_at = COALESCE(queued_at, $2) "
            "WHERE worker_id = $1 AND status = 'running' RETURNING *",
            worker_id, now,
        )
        for job in rows:
            await self.enqueue(job)
        if rows:
            log_event(logger, "queue.released", worker_id=worker_id, jobs=len(rows))
        return [job["id"] for job in rows]

    async def rebuild(self) -> int:
        """Put every job the table calls queued into its ready set.

        Scores come from the rows, so this is harmless for jobs already in
        line; a job claimed meanwhile comes back as a stale entry that the
        next claim skips.
        """
        rows = await self.db.fetch(
            "SELECT id, agent_type, priority, queued_at, created_at FROM jobs "
            "WHERE status = 'queued' AND agent_type IS NOT NULL"
        )
        by_type: dict[str, dict[str, float]] = defaultdict(dict)
        for row in rows:
            queued_at = row["queued_at"] or row["created_at"]
            by_type[row["agent_type"]][row["id"]] = qs.score(row["priority"], queued_at)

        for agent_type, members in by_type.items():
            await self.state.zadd(qs.ready_key(agent_type), members)
            await self.state.hset(qs.TYPES_KEY, {agent_type: "1"})
        await self.state.set(qs.BUILT_KEY, iso(utc_now()) or "")
        log_event(logger, "queue.rebuilt", jobs=len(rows), agent_types=len(by_type))
        return len(rows)

    async def _ensure_built(self) -> None:
        if self._built:
            return
        async with self._building:
            if not self._built and not await self.state.exists(qs.BUILT_KEY):
                await self.rebuild()
            self._built = True

    # -- operator controls ---------------------------------------------------

    @operation
    async def clear(
        self, ctx: CallContext, *, agent_type: str | None = None
    ) -> dict[str, int]:
        """Cancel every queued (not running) job, of one agent type or all."""
        now = utc_now()
        reason = f"cleared from the queue by {ctx.principal.subject}"
        sql = (
            "UPDATE jobs SET status = 'cancelled', error = $1, finished_at = $2, "
            "updated_at = $2 WHERE status = 'queued'"
        )
        args: list[Any] = [reason, now]
        if agent_type is not None:
            sql += " AND agent_type = $3"
            args.append(agent_type)
        rows = await self.db.fetch(sql + " RETURNING id, agent_type", *args)

        await self._discard_many(rows)
        log_event(logger, "queue.cleared", actor=ctx.principal.subject,
                  agent_type=agent_type, cancelled=len(rows))
        return {"cancelled": len(rows)}

    async def _discard_many(self, rows: Iterable[Row]) -> None:
        by_type: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            if row["agent_type"] is not None:
                by_type[row["agent_type"]].append(row["id"])
        for agent_type, ids in by_type.items():
            for start in range(0, len(ids), REMOVE_CHUNK):
                chunk = ids[start : start + REMOVE_CHUNK]
                await self.state.zrem(qs.ready_key(agent_type), *chunk)

    @operation
    async def pause(
        self, ctx: CallContext, *, reason: str | None = None
    ) -> dict[str, Any]:
        """Stop handing out jobs; queued ones stay, new ones are still taken in.

        Pausing a paused queue keeps the first pause's author, time and reason.
        """
        flag = {"reason": reason, "by": ctx.principal.subject, "since": iso(utc_now())}
        created = await self.state.set(qs.PAUSED_KEY, json.dumps(flag), nx=True)
        if created:
            log_event(logger, "queue.paused", actor=ctx.principal.subject,
                      reason=reason)
        return await self.status()

    @operation
    async def resume(self, ctx: CallContext) -> dict[str, Any]:
        """Hand out jobs again, highest priority first."""
        await self._ensure_built()
        # Removing the flag and reading the line share one round trip; with
        # the flag gone the queue runs, so there is no pause to read back.
        removed, known = await asyncio.gather(
            self.state.delete(qs.PAUSED_KEY), self.state.hgetall(qs.TYPES_KEY)
        )
        if removed:
            log_event(logger, "queue.resumed", actor=ctx.principal.subject)
        return await self._status(known, None)

    async def paused(self) -> dict[str, Any] | None:
        """Who paused dispatch, when and why; ``None`` while it runs."""
        raw = await self.state.get(qs.PAUSED_KEY)
        if raw is None:
            return None
        try:
            flag = json.loads(raw)
        except ValueError:
            flag = {}
        return flag if isinstance(flag, dict) else {}

    # -- reading the line ----------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """Paused or not, and how many jobs wait per agent type and priority."""
        await self._ensure_built()
        # Two independent reads: sent together, they share one round trip.
        known, pause = await asyncio.gather(
            self.state.hgetall(qs.TYPES_KEY), self.paused()
        )
        return await self._status(known, pause)

    async def _status(
        self, known: Mapping[str, Any], pause: dict[str, Any] | None
    ) -> dict[str, Any]:
        types = sorted(known)
        counts = await self._depths(types)

        by_type = {}
        for index, agent_type in enumerate(types):
            row = counts[index * 10 : index * 10 + 10]
            by_priority = {
                str(qs.MAX_PRIORITY - band): n for band, n in enumerate(row) if n
            }
            by_type[agent_type] = {"total": sum(row), "by_priority": by_priority}
        return {
            "paused": pause is not None,
            "pause": pause,
            "depth": sum(entry["total"] for entry in by_type.values()),
            "by_agent_type": by_type,
        }

    async def _depths(self, types: Sequence[str]) -> list[int]:
        if not types:
            return []
        keys = [qs.ready_key(agent_type) for agent_type in types]
        counts = await self.state.run(qs.DEPTH, keys, qs.band_bounds())
        return [int(n) for n in counts]

    async def queued(
        self,
        ctx: CallContext,
        *,
        agent_type: str | None = None,
        limit: int = 20,
    ) -> list[Row]:
        """The next ``limit`` jobs in dispatch order, each with its position.

        Under ``ctx.own_only`` only the caller's jobs are shown, with their
        place in the whole line, looking ``OWN_SCAN`` places down at most.
        """
        if not 1 <= limit <= MAX_DETAILS:
            raise BadRequest(f"'limit' must be from 1 to {MAX_DETAILS}.")
        await self._ensure_built()
        scan = OWN_SCAN if ctx.own_only else limit
        line = await self._line(agent_type, scan)
        rows = await self._waiting_rows([job_id for job_id, _ in line])

        waiting = [rows[job_id] for job_id, _ in line if job_id in rows]
        now = utc_now()
        placed = [
            _in_line(row, now, place) for place, row in enumerate(waiting, start=1)
        ]
        if ctx.own_only:
            placed = [job for job in placed if job["owner_id"] == ctx.principal.subject]
        return placed[:limit]

    async def _line(self, agent_type: str | None, scan: int) -> list[tuple[str, float]]:
        if agent_type is not None:
            types = [agent_type]
        else:
            types = sorted(await self.state.hgetall(qs.TYPES_KEY))
        merged: list[tuple[str, float]] = []
        for name in types:
            merged += await self.state.zrange(
                qs.ready_key(name), 0, scan - 1, withscores=True
            )
        merged.sort(key=lambda pair: (pair[1], pair[0]))
        return merged[:scan]

    async def _waiting_rows(self, ids: Sequence[str]) -> dict[str, Row]:
        if not ids:
            return {}
        marks = ", ".join(f"${n}" for n in range(1, len(ids) + 1))
        rows = await self.db.fetch(
            f"SELECT {_JOB_FIELDS} FROM jobs "
            f"WHERE id IN ({marks}) AND status = 'queued'",
            *ids,
        )
        return {row["id"]: row for row in rows}

    async def stats(self, *, window_minutes: int = 60) -> dict[str, Any]:
        """Enqueue and dequeue rates and wait-time quantiles over a window."""
        now = utc_now()
        since = now - timedelta(minutes=window_minutes)
        enqueued = await self.db.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE queued_at >= $1", since
        )
        started = await self.db.fetch(
            "SELECT queued_at, started_at FROM jobs "
            "WHERE started_at >= $1 AND queued_at IS NOT NULL "
            "ORDER BY started_at DESC LIMIT $2",
            since, MAX_STATS_SAMPLES,
        )
        oldest = await self.db.fetchrow(
            "SELECT queued_at FROM jobs WHERE status = 'queued' "
            "AND queued_at IS NOT NULL ORDER BY queued_at ASC LIMIT 1"
        )
        waits = sorted(
            _seconds(row["started_at"] - row["queued_at"]) for row in started
        )
        return {
            "window_minutes": window_minutes,
            "since": iso(since),
            "enqueued": int(enqueued or 0),
            "dequeued": len(started),
            "enqueue_per_minute": round(int(enqueued or 0) / window_minutes, 4),
            "dequeue_per_minute": round(len(started) / window_minutes, 4),
            "wait_seconds": {
                "p50": _quantile(waits, 0.50),
                "p95": _quantile(waits, 0.95),
                "max": waits[-1] if waits else None,
            },
            "oldest_waiting_seconds": (
                _seconds(now - oldest["queued_at"]) if oldest else None
            ),
        }


def _in_line(row: Row, now: datetime, position: int) -> Row:
    waited = _seconds(now - row["queued_at"]) if row["queued_at"] else None
    return {**public(row), "position": position, "waiting_seconds": waited}


def _seconds(delta: timedelta) -> float:
    return round(max(0.0, delta.total_seconds()), 3)


def _quantile(ordered: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank quantile of already sorted values; ``None`` when empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(len(ordered) * fraction))
    return ordered[rank - 1]
