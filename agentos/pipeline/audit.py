"""The audit trail: one chained record per admin action call, durable in time.

Every call of ``POST /api/admin/action``, allowed or not, ends as one row of
``audit_records``: who, with which roles, asked for which action with which
(scrubbed) payload; the decision and the rule that made it; the outcome,
status and ``error_code``; trace id, client address, user agent, idempotency
key, duration, and the registry and policy versions in force. The table is
append-only in the database itself (triggers, migration 0001) and each row
carries the hash chain of ``agentos.pipeline.chain``.

Theory of operation.

*No action runs unless its record can be made durable.* Before an allowed
call is dispatched, its record-to-be is written as an *intent* to
``audit_pending`` and the call waits until that write has committed; if the
database cannot take it, the call is refused with 503 ``DEPENDENCY_DOWN``
and nothing is executed. When the call ends, the finished record is chained
into ``audit_records`` and its intent deleted, in one transaction, before
the reply is sent. Calls that are refused before dispatch (401, 403, 429,
400, an open breaker, a replay) have nothing to protect and are written once,
at the end. We chose the intent over "dispatch, then wait for the record":
that order would let an action run while the audit store is down and lose
its trace if the process then died. The chain itself stays one record per
call; intents are not part of it.

*Group commit.* One writer task per process owns the database side. Calls
hand it intents and records and await a future; the writer takes everything
queued, waits ``window_seconds`` for more, and commits the lot in one
transaction, so N concurrent calls cost one commit instead of N, and a
commit in progress lets the next batch gather by itself.

*One chain for many writers.* Several workers and hosts append to the same
chain. Each batch transaction first takes a database lock that every writer
takes for the chain (PostgreSQL: ``pg_advisory_xact_lock``, released at
commit; SQLite: ``BEGIN IMMEDIATE``, the file's write lock), then reads the
head (``max(seq)``), links its records after it and inserts them. Writers
therefore serialize per batch, not per record: the lock is held for one
round of inserts, whatever the batch size. A database lock rather than a
state-store lock keeps the chain correct even when Redis is down, and is
released by the database itself if a writer dies mid-batch.

*When the final write fails* (the database went away while the action ran),
the action has already happened: the reply tells the truth about it, the
writer keeps the record and retries it, and ``audit.deferred`` is logged. If
the process dies before the retry succeeds, the intent remains, and
``recover`` (run at start-up) chains it with the outcome ``interrupted``, so
the call is never missing from the trail; only its outcome is then unknown.
Known shortcoming: an intent younger than ``recover_after`` is assumed to
belong to a live call, so an action that runs longer than that may appear
twice (``interrupted``, then its real outcome).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agentos import errors
from agentos.logs import log_event
from agentos.pipeline.chain import (
    CONTENT_FIELDS,
    Break,
    Head,
    Verifier,
    link,
    normalize,
)
from agentos.pipeline.scrub import scrub
from agentos.store.base import Database, Executor

logger = logging.getLogger("agentos.audit")

CHAIN_LOCK_KEY = 0x6175_6469_745F_6368  # "audit_ch": the advisory lock of the chain
RETRY_PAUSE_SECONDS = 1.0
MAX_DEFERRED = 100_000
"""Finished records kept in memory for retry; beyond this the oldest are only logged."""

ALLOWED, DENIED = "allowed", "denied"
SUCCEEDED, FAILED, REFUSED = "succeeded", "failed", "refused"
ACCEPTED, REPLAYED, INTERRUPTED = "accepted", "replayed", "interrupted"

LEVELS = ("metadata", "request", "request_response")
"""Audit levels of an action spec: what of its payload and result is kept."""

COLUMNS = (*CONTENT_FIELDS, "hash")
_INSERT_RECORD = (
    f"INSERT INTO audit_records ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))})"
)
_INSERT_INTENT = (
    "INSERT INTO audit_pending (id, owner, created_at, record) VALUES ($1, $2, $3, $4)"
)
_DELETE_INTENT = "DELETE FROM audit_pending WHERE id = $1"
_HEAD = "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1"


def kept_payload(
    level: str, payload: Any, result: Any = None, pii: frozenset[str] = frozenset()
) -> Any:
    """What a record keeps of a call's payload (and result) at an audit level.

    ``metadata`` keeps nothing, ``request`` the scrubbed payload, and
    ``request_response`` both, as ``{"request": ..., "response": ...}``.
    """
    if level == "metadata":
        return None
    request = normalize(scrub(payload, pii))
    if level == "request":
        return request
    return {"request": request, "response": normalize(scrub(result))}


def new_record(**fields: Any) -> dict[str, Any]:
    """A record with every column present; unnamed ones are ``None``."""
    record: dict[str, Any] = dict.fromkeys(COLUMNS)
    record["ts"] = datetime.now(UTC)
    record["roles"] = []
    record.update(fields)
    return record


@dataclass
class _Job:
    """One piece of work for the writer and the future its caller awaits."""

    kind: str  # "intent", "record" or "recover"
    row: dict[str, Any]
    intent: str | None = None
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class AuditWriter:
    """The process's single writer of intents and chained records."""

    def __init__(
        self,
        db: Database,
        *,
        window_seconds: float = 0.0,
        max_batch: int = 500,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.window_seconds = window_seconds
        self.max_batch = max_batch
        self.owner = (
            owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        )
        self._queue: list[_Job] = []
        self._deferred: list[_Job] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- what callers use --------------------------------------------------

    async def intend(self, record: Mapping[str, Any]) -> str:
        """Make a call's record durable as an intent; return the intent id.

        Raises ``DependencyDown`` when the database cannot take it: the call
        must then not run.
        """
        intent = str(uuid.uuid4())
        await self._submit(_Job("intent", dict(record), intent))
        return intent

    async def append(
        self, record: Mapping[str, Any], intent: str | None = None
    ) -> int | None:
        """Chain a finished record (and drop its intent); return its ``seq``.

        For a record with an intent, a failure is not raised: the record is
        kept for retry (``audit.deferred``) and ``None`` returned, since the
        action has already run. Without an intent a failure raises
        ``DependencyDown``.
        """
        job = _Job("record", dict(record), intent)
        try:
            return int(await self._submit(job))
        except errors.DependencyDown:
            if intent is None:
                raise
            self._defer(job)
            return None

    async def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    @property
    def deferred(self) -> int:
        """Finished records waiting for the database to come back."""
        return len(self._deferred)

    # -- the writer task ---------------------------------------------------

    async def _submit(self, job: _Job) -> Any:
        if self._task is None or self._closing:
            raise errors.DependencyDown(
                "The audit writer is not running; retry shortly."
            )
        self._queue.append(job)
        self._wake.set()
        return await job.done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self.window_seconds and not self._closing:
                await asyncio.sleep(self.window_seconds)
            batch, self._queue = (
                self._queue[: self.max_batch],
                self._queue[self.max_batch :],
            )
            if not self._queue:
                self._wake.clear()
            if batch:
                await self._commit_batch(batch)
            if self._closing and not self._queue:
                break
        if self._deferred:
            await self._commit_batch(self._deferred)

    async def _commit_batch(self, batch: list[_Job]) -> None:
        try:
            seqs = await self._commit(batch)
        except errors.AgentOSError as exc:
            _fail_all(batch, exc)
            return
        except Exception as exc:  # a bug must not kill the writer
            logger.exception(
                "audit.batch_failed", extra={"fields": {"size": len(batch)}}
            )
            _fail_all(batch, exc)
            return
        for job in batch:
            if not job.done.done():
                job.done.set_result(seqs.get(id(job)))

    async def _commit(self, batch: list[_Job]) -> dict[int, int]:
        intents = [job for job in batch if job.kind == "intent"]
        records = [job for job in batch if job.kind == "record"]
        recovering = [job for job in batch if job.kind == "recover"]
        now = datetime.now(UTC)
        async with self.db.transaction() as tx:
            if intents:
                rows = [(j.intent, self.owner, now, _jsonable(j.row)) for j in intents]
                await tx.executemany(_INSERT_INTENT, rows)
            if not records and not recovering:
                return {}
            head = await self._chain_head(tx)
            orphans = await self._orphans(tx, recovering)
            chained = [job.row for job in records] + [row for row, _ in orphans]
            new_head = link(head, chained)
            if chained:
                await tx.executemany(_INSERT_RECORD, [_values(r) for r in chained])
            done = [(j.intent,) for j in records if j.intent] + [
                (i,) for _, i in orphans
            ]
            if done:
                await tx.executemany(_DELETE_INTENT, done)
        if chained:
            log_event(
                logger,
                "audit.appended",
                logging.DEBUG,
                head_seq=new_head.seq,
                head_hash=new_head.hash,
                records=len(chained),
            )
        results = {id(job): job.row["seq"] for job in records}
        results.update({id(job): len(orphans) for job in recovering})
        return results

    async def _orphans(
        self, tx: Executor, recovering: list[_Job]
    ) -> list[tuple[dict[str, Any], str]]:
        # Read under the chain lock, so two workers never recover one intent.
        if not recovering:
            return []
        cutoff = min(job.row["cutoff"] for job in recovering)
        rows = await tx.fetch(
            "SELECT id, record FROM audit_pending WHERE created_at < $1 "
            "ORDER BY created_at LIMIT 1000",
            cutoff,
        )
        return [(_revived(row["record"]), str(row["id"])) for row in rows]

    async def _chain_head(self, tx: Executor) -> Head:
        if self.db.dialect == "postgresql":
            await tx.execute("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK_KEY)
        row = await tx.fetchrow(_HEAD)
        return Head(int(row["seq"]), str(row["hash"])) if row else Head()

    def _defer(self, job: _Job) -> None:
        log_event(
            logger,
            "audit.deferred",
            logging.ERROR,
            action=job.row.get("action"),
            actor=job.row.get("actor"),
            hint="the database refused the finished record; it is retried",
        )
        if len(self._deferred) >= MAX_DEFERRED:
            lost = self._deferred.pop(0)
            log_event(logger, "audit.dropped", logging.ERROR, intent=lost.intent)
        self._deferred.append(_Job("record", job.row, job.intent))
        if len(self._deferred) == 1:
            asyncio.get_running_loop().create_task(self._retry_deferred())

    async def _retry_deferred(self) -> None:
        while self._deferred and not self._closing:
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            batch = self._deferred
            self._deferred = []
            fresh = [_Job("record", job.row, job.intent) for job in batch]
            await self._commit_batch(fresh)
            failed = [job for job in fresh if job.done.exception() is not None]
            self._deferred = failed + self._deferred
        if not self._deferred:
            log_event(logger, "audit.recovered")

    # -- start-up ----------------------------------------------------------

    async def recover(self, older_than: timedelta) -> int:
        """Chain the intents of calls that died mid-action as ``interrupted``.

        Only intents older than ``older_than`` are taken: younger ones may
        belong to calls still running in another process. Returns how many
        were chained (at most 1,000 a call).
        """
        cutoff = datetime.now(UTC) - older_than
        count = int(await self._submit(_Job("recover", {"cutoff": cutoff})))
        if count:
            log_event(logger, "audit.intents_recovered", logging.WARNING, count=count)
        return count


def _fail_all(batch: list[_Job], exc: BaseException) -> None:
    refusal = errors.DependencyDown(
        "The audit store cannot record this call, so it was not executed; "
        "retry shortly.",
        retry_after=2,
    )
    refusal.__cause__ = exc
    for job in batch:
        if not job.done.done():
            job.done.set_exception(refusal)
            job.done.exception()  # mark retrieved: a caller may be gone


def _values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(name) for name in COLUMNS)


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    content = {name: row.get(name) for name in CONTENT_FIELDS if name != "seq"}
    content["ts"] = row["ts"].isoformat()
    return content


def _revived(stored: Mapping[str, Any]) -> dict[str, Any]:
    record = new_record(**{k: v for k, v in stored.items() if k in COLUMNS})
    record["ts"] = datetime.fromisoformat(str(stored["ts"]))
    record["outcome"] = INTERRUPTED
    return record


# -- verification ----------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What walking the chain found: how many records held, the first break."""

    checked: int
    head: Head
    broken: Break | None

    @property
    def intact(self) -> bool:
        """Whether every record held."""
        return self.broken is None


async def verify_chain(db: Database, *, page: int = 1000) -> Verification:
    """Walk ``audit_records`` in ``seq`` order and report the first break."""
    verifier = Verifier()
    after = 0
    while True:
        rows = await db.fetch(
            "SELECT * FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT $2",
            after,
            page,
        )
        for row in rows:
            broken = verifier.feed(row)
            if broken is not None:
                return Verification(verifier.checked, verifier.head, broken)
        if len(rows) < page:
            return Verification(verifier.checked, verifier.head, None)
        after = int(rows[-1]["seq"])
