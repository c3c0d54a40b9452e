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

*Group commit.* Each process writes through one lane
(``agentos.pipeline.group_commit``) that carries both the intents of calls
about to run and the records of calls that have ended. Calls hand the lane
their row and await a future; the lane commits everything queued in one
transaction (after ``window_seconds`` more, if set), so N concurrent calls
cost one commit instead of N, and a commit in flight lets the next batch
gather by itself. One lane rather than one for intents and one for records
halves the commits under load: the database's work per call, not the
worker's, is what the shared lane saves. Its price: when several processes
contend for the chain lock, a new call's intent waits with the records for
that lock, where a lane of its own would not.

*One chain for many writers.* Several workers and hosts append to the same
chain, so every batch of records is linked under a database lock that all
writers take (PostgreSQL: ``pg_advisory_xact_lock``, released at commit;
SQLite: ``BEGIN IMMEDIATE``, the file's write lock): read the head, link
after it, insert. Writers serialize per batch, not per record. On
PostgreSQL the batch is linked in Python after the head this writer last
saw and sent in one statement, ``audit_append`` (migration 0032), which
takes the lock, checks that the head is still that one and inserts; if
another writer moved it, the function returns the new head and the batch is
linked again after it. A database lock rather than a state-store lock keeps
the chain correct while Redis is down, and the database releases it itself
if a writer dies mid-batch.

*Each record is encoded once.* On PostgreSQL the canonical JSON that a
record's hash covers, with the hash added, is the row sent to
``audit_append``, as text, so no codec encodes it again; the batch's intents
travel in the same statement as one JSON array, not one Bind/Execute per
row. If the head had moved, that statement still committed the intents, so
the records are linked again and sent without them.

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
import json
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agentos import errors
from agentos.logs import log_event
from agentos.pipeline.chain import (
    CONTENT_FIELDS,
    Break,
    Head,
    Verifier,
    canonical,
    link,
    link_canonical,
    normalize,
)
from agentos.pipeline.group_commit import Failed, GroupCommit
from agentos.pipeline.scrub import scrub
from agentos.store.base import Database, Executor

logger = logging.getLogger("agentos.audit")

CHAIN_LOCK_KEY = 0x6175_6469_745F_6368  # "audit_ch": the advisory lock of the chain
RETRY_PAUSE_SECONDS = 1.0
MAX_LINK_ATTEMPTS = 20
"""Times a batch is linked again after other writers moved the head."""
MAX_DEFERRED = 100_000
"""Finished records kept in memory for retry; beyond this the oldest are only logged."""

_Result = int | None | Failed[int | None]
"""What the lane answers an item: nothing for an intent, a ``seq`` for a record,
a count for a recovery, or why the item failed while its batch held."""

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
# PostgreSQL: a whole batch of intents in one statement (one Bind/Execute, not
# one per row), sent as the text of a JSON array (``_intents_json``).
_INSERT_INTENTS = (
    "INSERT INTO audit_pending (id, owner, created_at, record) "
    "SELECT i.id, i.owner, i.created_at, i.record "
    "FROM jsonb_to_recordset($1::text::jsonb) "
    "AS i(id uuid, owner text, created_at timestamptz, record jsonb)"
)
# Intents and records go as the text of JSON arrays, so the pool's JSONB codec
# does not encode again what the chain has just encoded.
_APPEND = "SELECT * FROM audit_append($1::text::jsonb, $2, $3, $4::text::jsonb, $5)"
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


@dataclass(frozen=True)
class _Intent:
    """A call's record-to-be, as JSON text, made durable before the call runs."""

    id: str
    text: str


@dataclass(frozen=True)
class _Entry:
    """A finished record for the chain, or a request to recover orphans."""

    row: dict[str, Any]
    intent: str | None = None
    recover_before: datetime | None = None


class AuditWriter:
    """The process's writer of intents and chained records, in one lane."""

    def __init__(
        self,
        db: Database,
        *,
        window_seconds: float = 0.0,
        max_batch: int = 500,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.owner = owner or _process_name()
        self._lane: GroupCommit[_Intent | _Entry, int | None] = GroupCommit(
            "audit", self._write, window_seconds=window_seconds, max_batch=max_batch
        )
        self._deferred: list[_Entry] = []
        self._retrying: asyncio.Task[None] | None = None
        self._head = Head()  # the chain head this writer last saw

    # -- what callers use --------------------------------------------------

    async def intend(self, record: Mapping[str, Any]) -> str:
        """Make a call's record durable as an intent; return the intent id.

        Raises ``DependencyDown`` when the database cannot take it: the call
        must then not run.
        """
        intent = str(uuid.uuid4())
        try:
            await self._lane.submit(_Intent(intent, _intent_json(record)))
        except errors.AgentOSError as exc:
            raise _refusal() from exc
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
        entry = _Entry(dict(record), intent)
        try:
            return await self._lane.submit(entry)
        except errors.AgentOSError as exc:
            if intent is None:
                raise _refusal() from exc
            self._defer(entry, exc)
            return None

    async def recover(self, older_than: timedelta) -> int:
        """Chain the intents of calls that died mid-action as ``interrupted``.

        Only intents older than ``older_than`` are taken: younger ones may
        belong to calls still running in another process. Returns how many
        were chained (at most 1,000 a call).
        """
        cutoff = datetime.now(UTC) - older_than
        try:
            count = await self._lane.submit(_Entry({}, recover_before=cutoff))
        except errors.AgentOSError as exc:
            raise _refusal() from exc
        if count:
            log_event(logger, "audit.intents_recovered", logging.WARNING, count=count)
        return count or 0

    async def start(self) -> None:
        """Start the lane."""
        self._lane.start()

    async def close(self) -> None:
        """Write what is queued, try the deferred records once more, stop."""
        if self._retrying is not None:
            self._retrying.cancel()
        if self._deferred:
            await self._retry_once()
        await self._lane.close()

    @property
    def deferred(self) -> int:
        """Finished records waiting for the database to come back."""
        return len(self._deferred)

    # -- the lane ------------------------------------------------------------

    async def _write(self, items: list[_Intent | _Entry]) -> list[_Result]:
        try:
            return await self._write_batch(items)
        except (ValueError, TypeError):
            # A record the chain cannot encode (a NaN or a lone surrogate in a
            # service's result, say) must not take its batch with it: it is
            # kept without its payload, and the batch written again.
            mended = [_encodable(item) for item in items]
            if all(new is old for new, old in zip(mended, items, strict=True)):
                raise
            return await self._write_batch(mended)

    async def _write_batch(self, items: list[_Intent | _Entry]) -> list[_Result]:
        intents = [i for i in items if isinstance(i, _Intent)]
        entries = [i for i in items if isinstance(i, _Entry)]
        records = [e for e in entries if e.recover_before is None]
        recovering = [e for e in entries if e.recover_before is not None]
        refused: Failed[int | None] | None = None
        orphans: list[tuple[dict[str, Any], str]] = []
        if self.db.dialect == "postgresql" and not recovering:
            refused = await self._append_in_one_statement(intents, records)
        else:
            orphans = await self._append_in_transaction(intents, records, recovering)

        chained = [] if refused else [e.row for e in records]
        chained += [row for row, _ in orphans]
        if chained:
            log_event(
                logger,
                "audit.appended",
                logging.DEBUG,
                head_seq=chained[-1]["seq"],
                head_hash=chained[-1]["hash"],
                records=len(chained),
                intents=len(intents),
            )
        return [_result_of(item, refused, len(orphans)) for item in items]

    async def _append_in_one_statement(
        self, intents: list[_Intent], records: list[_Entry]
    ) -> Failed[int | None] | None:
        # PostgreSQL: ``audit_append`` (migration 0032) inserts the intents and
        # appends the records in one round trip. The records are linked after
        # the head this writer last saw; if another writer moved it, the
        # function has committed the intents alone and says where the head is
        # now, and the records are linked again after that and sent without
        # the intents. Returns the failure of the records, if they could not
        # be linked: the intents have been stored all the same.
        rows = [entry.row for entry in records]
        finished = [entry.intent for entry in records if entry.intent]
        pending = _intents_json(intents, self.owner) if intents else "[]"
        head = self._head
        for _ in range(MAX_LINK_ATTEMPTS):
            _, contents = link_canonical(head, rows)
            answer = await self.db.fetchrow(
                _APPEND,
                pending,
                head.seq,
                head.hash,
                _json_array(rows, contents),
                finished,
            )
            assert answer is not None
            pending = "[]"  # committed with that statement, whatever its answer
            head = Head(int(answer["head_seq"]), str(answer["head_hash"]))
            if answer["appended"]:
                self._head = head
                return None
        return Failed(
            errors.DependencyDown(
                "The audit chain is too contended to append to; retry shortly."
            )
        )

    async def _append_in_transaction(
        self,
        intents: list[_Intent],
        records: list[_Entry],
        recovering: list[_Entry],
    ) -> list[tuple[dict[str, Any], str]]:
        async with self.db.transaction() as tx:
            if intents and self.db.dialect == "postgresql":
                await tx.execute(_INSERT_INTENTS, _intents_json(intents, self.owner))
            elif intents:
                now = datetime.now(UTC)
                rows = [(i.id, self.owner, now, i.text) for i in intents]
                await tx.executemany(_INSERT_INTENT, rows)
            if not records and not recovering:
                return []
            head = await self._chain_head(tx)
            orphans = await self._orphans(tx, recovering)
            chained = [entry.row for entry in records] + [row for row, _ in orphans]
            self._head = link(head, chained)
            if chained:
                await tx.executemany(_INSERT_RECORD, [_values(r) for r in chained])
            done = [(entry.intent,) for entry in records if entry.intent]
            done += [(intent,) for _, intent in orphans]
            if done:
                await tx.executemany(_DELETE_INTENT, done)
        return orphans

    async def _orphans(
        self, tx: Executor, recovering: list[_Entry]
    ) -> list[tuple[dict[str, Any], str]]:
        # Read under the chain lock, so two workers never recover one intent.
        cutoffs = [e.recover_before for e in recovering if e.recover_before]
        if not cutoffs:
            return []
        rows = await tx.fetch(
            "SELECT id, record FROM audit_pending WHERE created_at < $1 "
            "ORDER BY created_at LIMIT 1000",
            min(cutoffs),
        )
        return [(_revived(row["record"]), str(row["id"])) for row in rows]

    async def _chain_head(self, tx: Executor) -> Head:
        if self.db.dialect == "postgresql":
            await tx.execute("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK_KEY)
        row = await tx.fetchrow(_HEAD)
        return Head(int(row["seq"]), str(row["hash"])) if row else Head()

    # -- records the database refused after their action ran ---------------

    def _defer(self, entry: _Entry, exc: errors.AgentOSError) -> None:
        log_event(
            logger,
            "audit.deferred",
            logging.ERROR,
            action=entry.row.get("action"),
            actor=entry.row.get("actor"),
            reason=exc.message,
            hint="the database refused the finished record; it is retried",
        )
        if len(self._deferred) >= MAX_DEFERRED:
            lost = self._deferred.pop(0)
            log_event(logger, "audit.dropped", logging.ERROR, intent=lost.intent)
        self._deferred.append(entry)
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.create_task(self._retry_deferred())

    async def _retry_deferred(self) -> None:
        while self._deferred:
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            await self._retry_once()
        log_event(logger, "audit.recovered")

    async def _retry_once(self) -> None:
        waiting, self._deferred = self._deferred, []
        outcomes = await asyncio.gather(
            *(self._lane.submit(entry) for entry in waiting), return_exceptions=True
        )
        failed = [
            e
            for e, o in zip(waiting, outcomes, strict=True)
            if isinstance(o, BaseException)
        ]
        self._deferred = failed + self._deferred


def _process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _refusal() -> errors.DependencyDown:
    return errors.DependencyDown(
        "The audit store cannot record this call, so it was not executed; "
        "retry shortly.",
        retry_after=2,
    )


def _result_of(
    item: _Intent | _Entry, refused: Failed[int | None] | None, recovered: int
) -> _Result:
    """What the lane answers one item of a written batch."""
    if isinstance(item, _Intent):
        return None
    if item.recover_before is not None:
        return recovered
    return refused or item.row["seq"]


def _encodable(item: _Intent | _Entry) -> _Intent | _Entry:
    """``item``, or a copy whose payload is replaced by why it cannot be kept.

    An intent's text was encoded in its caller's task, so it always can be.
    """
    if isinstance(item, _Intent):
        return item
    entry = item
    try:
        canonical(entry.row)
    except (ValueError, TypeError) as exc:
        reason = (str(exc) or type(exc).__name__)[:200]
        log_event(
            logger,
            "audit.payload_unencodable",
            logging.ERROR,
            action=entry.row.get("action"),
            actor=entry.row.get("actor"),
            reason=reason,
            hint="the record is kept without its payload; the value came from "
            "a service's result or a caller the body parser let through",
        )
        row = {**entry.row, "payload": {"omitted": f"not encodable as JSON: {reason}"}}
        return _Entry(row, entry.intent, entry.recover_before)
    return entry


def _values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(name) for name in COLUMNS)


_INTENT_FIELDS = tuple(name for name in CONTENT_FIELDS if name != "seq")
_INTENT_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""How an intent's record is written: as the SQLite store writes any JSON.

A NaN is refused here, in the caller's task, rather than by the database for
the whole batch of intents."""


def _intent_json(row: Mapping[str, Any]) -> str:
    content = {name: row.get(name) for name in _INTENT_FIELDS}
    content["ts"] = row["ts"].isoformat()
    return _INTENT_JSON.encode(content)


def _intents_json(intents: list[_Intent], owner: str) -> str:
    # Each intent's record is already JSON text; it goes in as it is.
    now = datetime.now(UTC).isoformat()
    common = f'"owner":{json.dumps(owner)},"created_at":"{now}"'
    items = (f'{{"id":"{i.id}",{common},"record":{i.text}}}' for i in intents)
    return f"[{','.join(items)}]"


def _json_array(rows: list[dict[str, Any]], contents: list[str]) -> str:
    # A record's canonical content is a JSON object of every column but the
    # hash, so adding the hash before its closing brace makes the whole row.
    items = (
        f'{content[:-1]},"hash":"{row["hash"]}"}}'
        for row, content in zip(rows, contents, strict=True)
    )
    return f"[{','.join(items)}]"


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
