"""The jobs service: creating jobs, reading them, and moving them through life.

Creating a job checks its ``kind`` against the kinds the agents declare and
its ``params`` against that kind's JSON Schema, stores it ``queued`` and puts
it in line at once. Every later change of status is a move of
``job_lifecycle``: read the row, judge the move by the transition table,
then write with a compare-and-set on the row's status and ``updated_at``. Of
two concurrent moves only one writes; the other reads the new row and is
judged again, so two cancels of one job make one transition and one 409.

Owners: a job belongs to the subject of the token that created it, stored
as given: a user's id or any other subject ("ops-alice") of at most 255
characters. Visibility: under ``ctx.own_only`` (the ``user`` role) a job of
another owner is answered exactly like a job that does not exist.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time
from typing import Any, cast

from agentos.errors import AgentOSError, BadRequest, Conflict, Forbidden, NotFound
from agentos.http.envelope import Page
from agentos.logs import log_event
from agentos.services.analytics import quantiles
from agentos.services.base import CallContext, Service, operation
from agentos.services.catalog import register
from agentos.services.clips import ClipReport, ClipsService
from agentos.services.job_kinds import KindSpec, find_kind, validate_params
from agentos.services.job_lifecycle import (
    JobStatus,
    Move,
    check_move,
    report_changes,
    retry_changes,
)
from agentos.services.job_queries import JobQuery
from agentos.services.queue import CANCEL_CHANNEL, QueueService
from agentos.services.records import (
    MAX_SUBJECT,
    Row,
    is_uuid,
    public,
    require_subject,
    require_uuid,
    utc_now,
)
from agentos.store.base import Executor

logger = logging.getLogger("agentos.jobs")

S, M = JobStatus, Move

DEFAULT_PRIORITY = 5
MAX_RECENT = 100
MAX_REASON = 500
MAX_ERROR = 4000
MAX_RACES = 5
"""Re-reads a move makes when other writers keep changing the row."""

SUMMARY_SAMPLES = 1000


Changes = Callable[[Row, datetime], dict[str, Any]]


@register
class JobsService(Service):
    """Jobs: create, read, cancel, retry, re-prioritize and report progress."""

    name = "jobs"

    @property
    def queue(self) -> QueueService:
        """The queue service, which owns dispatch order."""
        return cast(QueueService, self.deps.services["queue"])

    @property
    def clips_service(self) -> ClipsService:
        """The clips service, which records what a succeeded job produced."""
        return cast(ClipsService, self.deps.services["clips"])

    # -- reading -------------------------------------------------------------

    async def get(self, ctx: CallContext, *, job_id: str) -> Row:
        """One job, if the caller may see it."""
        return public(await self._visible(ctx, job_id))

    async def owner_of(self, resource_id: str) -> str | None:
        """The owner of the job ``resource_id``; ``None`` if there is no such job.

        Authorization asks this before an own-only caller acts on a job
        (``agentos.pipeline.authz``); a malformed id names no job.
        """
        if not is_uuid(resource_id):
            return None
        sql = "SELECT owner_id FROM jobs WHERE id = $1"
        owner = await self.db.fetchval(sql, str(uuid.UUID(resource_id)))
        return None if owner is None else str(owner)

    async def history(
        self, ctx: CallContext, query: JobQuery, *, page: int = 1, per_page: int = 20
    ) -> tuple[list[Row], Page]:
        """One page of the jobs ``query`` selects that the caller may see."""
        where, args = query.owned_by(_scope(ctx).owner_id).where()
        total = await self.db.fetchval(f"SELECT COUNT(*) FROM jobs {where}", *args)
        n = len(args)
        rows = await self.db.fetch(
            f"SELECT * FROM jobs {where} {query.order_by()} "
            f"LIMIT ${n + 1} OFFSET ${n + 2}",
            *args, per_page, (page - 1) * per_page,
        )
        return [public(row) for row in rows], Page(page, per_page, int(total or 0))

    async def of_user(
        self, ctx: CallContext, *, user_id: str, page: int = 1, per_page: int = 20
    ) -> tuple[list[Row], Page]:
        """One user's jobs, newest first; another user's are 404 under own_only."""
        user_id = require_subject(user_id, "user_id")
        if ctx.own_only and user_id != ctx.principal.subject:
            raise NotFound("No user with this id is visible to you.")
        query = JobQuery(owner_id=user_id)
        return await self.history(ctx, query, page=page, per_page=per_page)

    async def today(
        self, ctx: CallContext, *, page: int = 1, per_page: int = 20
    ) -> tuple[Row, Page]:
        """Jobs created since midnight UTC, newest first, with counts per status."""
        midnight = datetime.combine(utc_now().date(), time(), tzinfo=UTC)
        query = JobQuery(since=midnight)
        jobs, pagination = await self.history(ctx, query, page=page, per_page=per_page)
        counts = await self._counts(ctx, since=midnight)
        return {
            "date": midnight.date().isoformat(),
            "counts": counts,
            "total": sum(counts.values()),
            "jobs": jobs,
        }, pagination

    async def recent(self, ctx: CallContext, *, limit: int = 20) -> list[Row]:
        """The ``limit`` newest jobs the caller may see."""
        if isinstance(limit, bool) or not 1 <= limit <= MAX_RECENT:
            raise BadRequest(f"'limit' must be a whole number from 1 to {MAX_RECENT}.")
        jobs, _ = await self.history(ctx, JobQuery(), page=1, per_page=limit)
        return jobs

    async def summary(self, ctx: CallContext) -> Row:
        """Counts per status and kind, success rate and run-time quantiles."""
        counts = await self._counts(ctx)
        where, args = _scope(ctx).where()
        kinds = await self.db.fetch(
            f"SELECT kind, COUNT(*) AS n FROM jobs {where} "
            "GROUP BY kind ORDER BY n DESC, kind ASC LIMIT 20",
            *args,
        )
        runs = await self._recent_runs(ctx)

        finished = counts[S.SUCCEEDED] + counts[S.FAILED]
        success_rate = round(counts[S.SUCCEEDED] / finished, 4) if finished else None
        return {
            "total": sum(counts.values()),
            "by_status": counts,
            "by_kind": {row["kind"]: int(row["n"]) for row in kinds},
            "success_rate": success_rate,
            "run_seconds": quantiles(runs),
        }

    async def clips(
        self, ctx: CallContext, *, job_id: str, page: int = 1, per_page: int = 20
    ) -> tuple[list[Row], Page]:
        """The clips a job produced, if the caller may see the job."""
        job = await self._visible(ctx, job_id)
        return await self.clips_service.of_job(job["id"], page=page, per_page=per_page)

    async def _counts(
        self, ctx: CallContext, *, since: datetime | None = None
    ) -> dict[str, int]:
        where, args = replace(_scope(ctx), since=since).where()
        rows = await self.db.fetch(
            f"SELECT status, COUNT(*) AS n FROM jobs {where} GROUP BY status", *args
        )
        counts = {status.value: 0 for status in JobStatus}
        counts.update({row["status"]: int(row["n"]) for row in rows})
        return counts

    async def _recent_runs(self, ctx: CallContext) -> list[float]:
        where, args = replace(_scope(ctx), statuses=(S.SUCCEEDED,)).where()
        rows = await self.db.fetch(
            f"SELECT started_at, finished_at FROM jobs {where} "
            "AND started_at IS NOT NULL "
            f"ORDER BY finished_at DESC LIMIT ${len(args) + 1}",
            *args, SUMMARY_SAMPLES,
        )
        return sorted(
            (row["finished_at"] - row["started_at"]).total_seconds() for row in rows
        )

    async def _visible(self, ctx: CallContext, job_id: str) -> Row:
        job_id = require_uuid(job_id, "job_id")
        row: Row | None = await self.db.fetchrow(
            "SELECT * FROM jobs WHERE id = $1", job_id
        )
        if row is None or (ctx.own_only and row["owner_id"] != ctx.principal.subject):
            raise NotFound("No job with this id is visible to you.")
        return row

    # -- creating ------------------------------------------------------------

    async def create(
        self,
        ctx: CallContext,
        *,
        kind: str,
        params: dict[str, Any],
        upload_id: str | None = None,
        priority: int = DEFAULT_PRIORITY,
    ) -> Row:
        """Validate a new job against its kind, store it queued and enqueue it."""
        owner_id = _new_owner(ctx)
        spec = await self.kind_spec(kind)
        validate_params(spec, params)
        if upload_id is not None:
            upload_id = await self._usable_upload(ctx, upload_id)

        now = utc_now()
        row = await self.db.fetchrow(
            "INSERT INTO jobs (id, owner_id, kind, params, status, priority, "
            "agent_type, upload_id, attempts, progress, created_at, queued_at, "
            "updated_at) VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, 0, 0, "
            "$8, $8, $8) RETURNING *",
            str(uuid.uuid4()), owner_id, kind, params, priority,
            spec.agent_type, upload_id, now,
        )
        assert row is not None  # INSERT ... RETURNING always returns its row
        try:
            await self.queue.enqueue(row)
        except AgentOSError:
            await self.db.execute("DELETE FROM jobs WHERE id = $1", row["id"])
            raise
        log_event(logger, "job.created", job_id=row["id"], kind=kind,
                  agent_type=spec.agent_type, owner_id=owner_id, priority=priority)
        return public(row)

    async def kind_spec(self, kind: str) -> KindSpec:
        """How ``kind`` is declared (see ``job_kinds.find_kind``)."""
        return await find_kind(self.db, kind)

    async def _usable_upload(self, ctx: CallContext, upload_id: str) -> str:
        upload_id = require_uuid(upload_id, "upload_id")
        row = await self.db.fetchrow(
            "SELECT owner_id, status FROM uploads WHERE id = $1", upload_id
        )
        if row is None or (ctx.own_only and row["owner_id"] != ctx.principal.subject):
            raise NotFound("No upload with this id is visible to you.")
        if row["status"] != "complete":
            raise Conflict(
                f"The upload is {row['status']}; finalize it before creating a job "
                "from it."
            )
        return upload_id

    # -- moving --------------------------------------------------------------

    @operation
    async def cancel(
        self, ctx: CallContext, *, job_id: str, reason: str | None = None
    ) -> Row:
        """Cancel a queued or running job; a running one's worker is told to stop."""
        note = _bounded(reason, MAX_REASON, "reason") or (
            f"cancelled by {ctx.principal.subject}"
        )
        before, job = await self._move(
            ctx, job_id, S.CANCELLED, Move.CANCEL,
            lambda row, now: {"error": note, "finished_at": now},
        )
        if before["status"] == S.QUEUED:
            await self.queue.discard(job)
        else:
            await self._signal_stop(job)
        log_event(logger, "job.cancelled", job_id=job["id"], was=before["status"],
                  actor=ctx.principal.subject)
        return public(job)

    @operation
    async def retry(self, ctx: CallContext, *, job_id: str) -> Row:
        """Queue a failed or cancelled job again, counting one more attempt."""
        before, job = await self._move(ctx, job_id, S.QUEUED, Move.RETRY, retry_changes)
        try:
            await self.queue.enqueue(job)
        except AgentOSError:
            await self._undo(job, before)
            raise
        log_event(logger, "job.retried", job_id=job["id"], attempts=job["attempts"],
                  actor=ctx.principal.subject)
        return public(job)

    @operation
    async def prioritize(self, ctx: CallContext, *, job_id: str, priority: int) -> Row:
        """Give a queued job a new priority (0 last, 9 first); its place follows."""
        if isinstance(priority, bool) or not isinstance(priority, int) or not (
            0 <= priority <= 9
        ):
            raise BadRequest("'priority' must be a whole number from 0 to 9.")
        for _ in range(MAX_RACES):
            row = await self._visible(ctx, job_id)
            if row["status"] != S.QUEUED:
                raise Conflict(
                    f"The job is {row['status']}; only a queued job's priority can "
                    "change."
                )
            job = await self._swap(self.db, row, {"priority": priority})
            if job is not None:
                break
        else:
            raise _too_busy()
        await self.queue.rescore(job)
        log_event(logger, "job.prioritized", job_id=job["id"], priority=priority,
                  actor=ctx.principal.subject)
        return public(job)

    async def report(
        self,
        ctx: CallContext,
        *,
        job_id: str,
        status: JobStatus,
        progress: float | None = None,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        worker_id: str | None = None,
        clips: Sequence[ClipReport] = (),
    ) -> Row:
        """Record a worker's report: progress, start, or the end of the job.

        Only the moves the transition table allows a report are taken; a
        report from a worker other than the one holding the job is refused.
        Clips may come only with ``succeeded`` and are stored with it.
        """
        if clips and status is not S.SUCCEEDED:
            raise BadRequest("'clips' may only be sent with status 'succeeded'.")
        error = _bounded(error, MAX_ERROR, "error")
        for _ in range(MAX_RACES):
            row = await self._visible(ctx, job_id)
            current = JobStatus(row["status"])
            check_move(current, status, Move.REPORT)
            _check_worker(row, worker_id)
            values = report_changes(
                current, status, utc_now(), progress=progress, error=error,
                result=result, worker_id=worker_id,
            )
            async with self.db.transaction() as tx:
                job = await self._swap(tx, row, values)
                if job is not None and clips:
                    await self.clips_service.record(tx, job, clips)
            if job is not None:
                break
        else:
            raise _too_busy()

        if current is S.QUEUED:
            await self.queue.discard(job)
        if status is not current:
            log_event(logger, "job.reported", job_id=job["id"], status=status.value,
                      was=current.value, worker_id=worker_id, clips=len(clips))
        return public(job)

    async def _move(
        self, ctx: CallContext, job_id: str, target: JobStatus, move: Move,
        changes: Changes,
    ) -> tuple[Row, Row]:
        """Take the job to ``target`` by ``move``; return the rows before and after."""
        for _ in range(MAX_RACES):
            row = await self._visible(ctx, job_id)
            check_move(JobStatus(row["status"]), target, move)
            now = utc_now()
            values = {"status": target.value, **changes(row, now)}
            job = await self._swap(self.db, row, values, now=now)
            if job is not None:
                return row, job
        raise _too_busy()

    async def _swap(
        self, executor: Executor, row: Row, values: dict[str, Any],
        *, now: datetime | None = None,
    ) -> Row | None:
        """Write ``values`` if the row is still as read; ``None`` if it changed."""
        columns = list(values)
        sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(columns, start=5))
        return await executor.fetchrow(
            f"UPDATE jobs SET {sets}, updated_at = $4 WHERE id = $1 AND status = $2 "
            "AND updated_at = $3 RETURNING *",
            row["id"], row["status"], row["updated_at"], now or utc_now(),
            *values.values(),
        )

    async def _undo(self, job: Row, before: Row) -> None:
        restore = {name: before[name] for name in retry_changes(before, utc_now())}
        restore["status"] = before["status"]
        await self._swap(self.db, job, restore)

    async def _signal_stop(self, job: Row) -> None:
        message = json.dumps({"job_id": job["id"], "worker_id": job["worker_id"]})
        try:
            await self.state.publish(CANCEL_CHANNEL, message)
        except AgentOSError as exc:
            # The cancel is stored; the worker also learns it from the 409 its
            # next report gets, so a lost signal only delays the stop.
            log_event(logger, "job.stop_signal_failed", logging.WARNING,
                      job_id=job["id"], reason=exc.message)


def _scope(ctx: CallContext) -> JobQuery:
    """The query every read starts from: the caller's own jobs under own_only."""
    return JobQuery(owner_id=ctx.principal.subject if ctx.own_only else None)


def _new_owner(ctx: CallContext) -> str:
    subject = ctx.principal.subject
    if not 1 <= len(subject) <= MAX_SUBJECT:
        raise Forbidden(
            f"A job's owner is its creator's token subject, which must be 1 to "
            f"{MAX_SUBJECT} characters; this token's is {len(subject)}. Ask for a "
            "token with a shorter subject."
        )
    return subject


def _check_worker(row: Row, worker_id: str | None) -> None:
    holder = row["worker_id"]
    if worker_id is None or holder is None or holder == worker_id:
        return
    raise Conflict(
        f"The job is held by worker '{holder}', not '{worker_id}'; this worker "
        "should stop working on it.",
        details=[{"worker_id": worker_id, "holder": holder}],
    )


def _bounded(text: str | None, limit: int, field: str) -> str | None:
    if text is not None and len(text) > limit:
        raise BadRequest(
            f"'{field}' is at most {limit} characters.",
            details=[{"field": field, "length": len(text)}],
        )
    return text


def _too_busy() -> Conflict:
    return Conflict("The job kept changing while this request tried to update it; "
                    "read it again and retry.")
