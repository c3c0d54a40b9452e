"""Chunked, resumable uploads: sessions in the database, bytes on disk.

``upload_plan`` holds the rules (names, sizes, chunk layout, states) and
``upload_storage`` the disk; this service ties them to the ``uploads`` table
and to the caller. An upload belongs to the subject of the token that opened
it, stored as given (a user's id or a name such as "ops-alice", at most 255
characters). A user sees and changes only their own uploads, and
another user's upload answers 404 so that its existence does not leak;
admins and operators may act on every upload, the other roles only read.

Finalizing is a compare-and-set from ``open`` to ``finalizing``: of two
finalize calls at once exactly one assembles and the other gets 409. Any
failure while assembling puts the upload back to ``open`` with its chunks,
so the client can mend what was wrong and finalize again.

A process that dies mid-finalize leaves the upload ``finalizing`` with
nobody assembling it. The stale sweep (``expire_stale``) takes an upload
that has been ``finalizing`` for longer than ``uploads.finalize_grace_seconds``
for such a crash and reopens it, exactly as a failed finalize does: a client
that sees ``open`` reads the status, resends any chunk it lists as missing
(none, unless chunks were lost from disk) and finalizes again, which is the
same recovery it already runs after any failed finalize; nothing is given up
while the client still holds the file. The reopened upload's idle clock
starts again, so it expires like any other open upload if nobody returns.
The grace must exceed the longest assembly of a largest file: should a live
finalize outlast it, the sweep reopens the upload under it, and that
finalize then answers 409 and keeps the chunks instead of completing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from jsonschema import Draft202012Validator

from agentos.auth.access import owner_scope, require_known_role, writes_all
from agentos.errors import BadRequest, Conflict, Forbidden, NotFound
from agentos.logs import log_event
from agentos.services.agent_reports import now
from agentos.services.base import CallContext, Service, operation
from agentos.services.catalog import register
from agentos.services.records import MAX_SUBJECT
from agentos.services.upload_plan import (
    CONTENT_TYPE,
    DEFAULT_CONTENT_TYPE,
    ChunkPlan,
    UploadStatus,
    check_filename,
    check_move,
    check_sha256,
)
from agentos.services.upload_storage import UploadStorage
from agentos.store.base import Row

logger = logging.getLogger("agentos.uploads")

UPLOAD_COLUMNS = (
    "id, owner_id, filename, size_bytes, sha256, content_type, chunk_size, "
    "total_chunks, status, storage_path, job_id, created_at, updated_at, finalized_at"
)
_FINAL = {UploadStatus.COMPLETE, UploadStatus.EXPIRED, UploadStatus.FAILED}
MISSING_SHOWN = 1000
"""Most missing chunk indexes a status answer lists (it also gives the count)."""


@register
class UploadsService(Service):
    """Upload sessions, their chunks and the files they become."""

    name = "uploads"

    def __init__(self, deps: Any) -> None:
        super().__init__(deps)
        self.storage = UploadStorage(self.settings.data_dir)

    # -- sessions --------------------------------------------------------------

    async def init(
        self,
        ctx: CallContext,
        *,
        filename: str,
        size: int,
        sha256: str,
        chunk_size: int,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """Open an upload session for a file the caller is about to send."""
        owner = _own_subject(ctx)
        plan = self._plan(size, chunk_size)
        upload_id = str(uuid.uuid4())
        row: dict[str, Any] = {
            "id": upload_id, "owner_id": owner,
            "filename": check_filename(filename), "size_bytes": size,
            "sha256": check_sha256(sha256),
            "content_type": _content_type(content_type),
            "chunk_size": chunk_size, "total_chunks": plan.total_chunks,
        }
        storage = self.storage
        await asyncio.to_thread(storage.ensure_room, storage.chunks_root, size)
        stamp = now()
        await self.db.execute(
            "INSERT INTO uploads (id, owner_id, filename, size_bytes, sha256, "
            "content_type, chunk_size, total_chunks, status, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            *row.values(), UploadStatus.OPEN.value, stamp,
        )
        log_event(logger, "upload.opened", upload_id=upload_id, owner=owner,
                  size_bytes=size, total_chunks=plan.total_chunks)
        return await self.status(ctx, upload_id=upload_id)

    async def put_chunk(
        self, ctx: CallContext, *, upload_id: str, index: int, data: bytes
    ) -> dict[str, Any]:
        """Store one chunk; sending the same chunk again replaces it harmlessly."""
        row = await self.load(ctx, upload_id, write=True)
        _require_open(row)
        plan = ChunkPlan(row["size_bytes"], row["chunk_size"])
        plan.check_chunk(index, len(data))

        await asyncio.to_thread(self.storage.write_chunk, row["id"], index, data)
        touched = await self.db.execute(
            "UPDATE uploads SET updated_at = $1 WHERE id = $2 AND status = $3",
            now(), row["id"], UploadStatus.OPEN.value,
        )
        if not touched:
            await self._after_late_chunk(row["id"])
        return await self.status(ctx, upload_id=row["id"])

    async def expected_chunk_length(
        self, ctx: CallContext, *, upload_id: str, index: int
    ) -> int:
        """How long chunk ``index`` must be, checked before its body is read."""
        row = await self.load(ctx, upload_id, write=True)
        _require_open(row)
        return ChunkPlan(row["size_bytes"], row["chunk_size"]).chunk_length(index)

    async def finalize(
        self, ctx: CallContext, *, upload_id: str, job: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Assemble and verify the file, move it into storage, maybe start a job."""
        row = await self.load(ctx, upload_id, write=True)
        if job is not None:
            await self._check_job(job)
        await self._move(row, UploadStatus.OPEN, UploadStatus.FINALIZING)
        try:
            path = await self._assemble(row)
        except BaseException:
            await self._reopen(row["id"])
            raise

        stamp = now()
        completed = await self.db.execute(
            "UPDATE uploads SET status = $1, storage_path = $2, finalized_at = $3, "
            "updated_at = $3 WHERE id = $4 AND status = $5",
            UploadStatus.COMPLETE.value, path, stamp, row["id"],
            UploadStatus.FINALIZING.value,
        )
        if not completed:
            grace = self.settings.uploads.finalize_grace_seconds
            raise _swept_meanwhile(row["id"], grace)
        await asyncio.to_thread(self.storage.remove_chunks, row["id"])
        log_event(logger, "upload.completed", upload_id=row["id"],
                  size_bytes=row["size_bytes"], path=path)
        result = await self.status(ctx, upload_id=row["id"])
        if job is not None:
            result["job"] = await self._create_job(ctx, row["id"], job)
        return result

    # -- reading ---------------------------------------------------------------

    async def load(
        self, ctx: CallContext, upload_id: str, *, write: bool = False
    ) -> Row:
        """The upload if the caller may see it (and change it, with ``write``)."""
        owner = _write_scope(ctx) if write else _read_scope(ctx)
        _check_uuid(upload_id)
        row: Row | None = await self.db.fetchrow(
            f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1", upload_id
        )
        if row is None or (owner is not None and row["owner_id"] != owner):
            raise NotFound(f"No upload {upload_id} exists, or it is not yours.")
        return row

    async def status(self, ctx: CallContext, *, upload_id: str) -> dict[str, Any]:
        """The upload with the bytes received and the chunks still missing."""
        row = await self.load(ctx, upload_id)
        upload = _public(row)
        if row["status"] != UploadStatus.OPEN:
            done = row["status"] == UploadStatus.COMPLETE
            received = row["total_chunks"] if done else 0
            upload.update(received_chunks=received, missing_count=0,
                          missing_chunks=[],
                          received_bytes=row["size_bytes"] if done else 0)
            return upload

        present = await asyncio.to_thread(self.storage.present_chunks, row["id"])
        plan = ChunkPlan(row["size_bytes"], row["chunk_size"])
        valid = {i: n for i, n in present.items()
                 if i < plan.total_chunks and n == plan.chunk_length(i)}
        missing = plan.missing(set(valid))
        upload.update(
            received_chunks=len(valid), received_bytes=sum(valid.values()),
            missing_count=len(missing), missing_chunks=missing[:MISSING_SHOWN],
        )
        return upload

    async def list_uploads(
        self,
        ctx: CallContext,
        *,
        page: int = 1,
        per_page: int = 20,
        status: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the uploads the caller may see, newest first, and the total."""
        clauses, args = [], []
        owner = _read_scope(ctx)
        if owner is not None:
            args.append(owner)
            clauses.append(f"owner_id = ${len(args)}")
        if status is not None:
            args.append(_status(status))
            clauses.append(f"status = ${len(args)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        total = await self.db.fetchval(f"SELECT COUNT(*) FROM uploads {where}", *args)
        n = len(args)
        rows = await self.db.fetch(
            f"SELECT {UPLOAD_COLUMNS} FROM uploads {where} "
            f"ORDER BY created_at DESC, id LIMIT ${n + 1} OFFSET ${n + 2}",
            *args, per_page, (page - 1) * per_page,
        )
        return [_public(row) for row in rows], int(total or 0)

    # -- janitor ---------------------------------------------------------------

    @operation
    async def expire_stale(self, ctx: CallContext, *, hours: int) -> dict[str, Any]:
        """Abort open uploads idle for ``hours`` and free their chunks; reopen
        uploads left ``finalizing`` by a crash (see the module docstring)."""
        if not isinstance(hours, int) or not 1 <= hours <= 24 * 365:
            raise BadRequest("hours must be a whole number from 1 to 8760.")
        reopened = await self._reopen_stuck()
        cutoff = now() - timedelta(hours=hours)
        rows = await self.db.fetch(
            "SELECT id FROM uploads WHERE status = $1 AND updated_at < $2",
            UploadStatus.OPEN.value, cutoff,
        )
        expired = []
        for row in rows:
            changed = await self.db.execute(
                "UPDATE uploads SET status = $1, updated_at = $2 "
                "WHERE id = $3 AND status = $4 AND updated_at < $5",
                UploadStatus.EXPIRED.value, now(), row["id"],
                UploadStatus.OPEN.value, cutoff,
            )
            if changed:
                await asyncio.to_thread(self.storage.remove_chunks, row["id"])
                expired.append(row["id"])
        log_event(logger, "upload.expired", count=len(expired),
                  actor=ctx.principal.subject, idle_hours=hours)
        return {"expired": len(expired), "upload_ids": expired,
                "reopened": len(reopened), "reopened_ids": reopened}

    async def _reopen_stuck(self) -> list[str]:
        """Reopen uploads ``finalizing`` for longer than the grace; their ids."""
        grace = self.settings.uploads.finalize_grace_seconds
        cutoff = now() - timedelta(seconds=grace)
        rows = await self.db.fetch(
            "SELECT id FROM uploads WHERE status = $1 AND updated_at < $2",
            UploadStatus.FINALIZING.value, cutoff,
        )
        reopened = []
        for row in rows:
            changed = await self.db.execute(
                "UPDATE uploads SET status = $1, updated_at = $2 "
                "WHERE id = $3 AND status = $4 AND updated_at < $5",
                UploadStatus.OPEN.value, now(), row["id"],
                UploadStatus.FINALIZING.value, cutoff,
            )
            if changed:
                reopened.append(row["id"])
                log_event(logger, "upload.reopened", logging.WARNING,
                          upload_id=row["id"], grace_seconds=grace,
                          hint="finalizing outlasted the grace; the client may "
                          "finalize again")
        return reopened

    # -- steps -----------------------------------------------------------------

    def _plan(self, size: int, chunk_size: int) -> ChunkPlan:
        limits = self.settings.uploads
        if not 0 <= size <= limits.max_file_bytes:
            raise BadRequest(
                f"size must be from 0 to {limits.max_file_bytes} bytes.",
                details=[{"pointer": "/size",
                          "allowed": f"0..{limits.max_file_bytes}"}],
            )
        largest = min(limits.max_chunk_bytes, self.settings.request_max_bytes)
        if not limits.min_chunk_bytes <= chunk_size <= largest:
            raise BadRequest(
                f"chunk_size must be from {limits.min_chunk_bytes} to {largest} bytes.",
                details=[{"pointer": "/chunk_size",
                          "allowed": f"{limits.min_chunk_bytes}..{largest}"}],
            )
        return ChunkPlan(size, chunk_size)

    async def _move(self, row: Row, source: UploadStatus, target: UploadStatus) -> None:
        changed = await self.db.execute(
            "UPDATE uploads SET status = $1, updated_at = $2 "
            "WHERE id = $3 AND status = $4",
            target.value, now(), row["id"], source.value,
        )
        if changed:
            return
        current = await self.db.fetchval(
            "SELECT status FROM uploads WHERE id = $1", row["id"]
        )
        check_move(current, target)

    async def _reopen(self, upload_id: str) -> None:
        """Back to ``open`` after a failed finalize, chunks kept for a retry."""
        await self.db.execute(
            "UPDATE uploads SET status = $1, updated_at = $2 "
            "WHERE id = $3 AND status = $4",
            UploadStatus.OPEN.value, now(), upload_id, UploadStatus.FINALIZING.value,
        )

    async def _assemble(self, row: Row) -> str:
        plan = ChunkPlan(row["size_bytes"], row["chunk_size"])
        present = await asyncio.to_thread(self.storage.present_chunks, row["id"])
        _check_complete(plan, present)

        assembled = await asyncio.to_thread(
            self.storage.assemble, row["id"], plan.total_chunks, plan.size
        )
        if assembled.size != row["size_bytes"] or assembled.sha256 != row["sha256"]:
            self.storage.discard(assembled)
            raise _mismatch(row, assembled.size, assembled.sha256)
        final = await asyncio.to_thread(self.storage.publish, assembled, row["id"])
        return self.storage.relative(final)

    async def _after_late_chunk(self, upload_id: str) -> None:
        # The upload left ``open`` while this chunk was written. A finished or
        # abandoned upload must not keep the stray chunk; a finalizing one
        # removes its chunks itself when it completes.
        current = await self.db.fetchval(
            "SELECT status FROM uploads WHERE id = $1", upload_id
        )
        if current in _FINAL:
            await asyncio.to_thread(self.storage.remove_chunks, upload_id)
        check_move(current, UploadStatus.FINALIZING)

    def _jobs(self) -> Any:
        """The jobs service, which validates and creates jobs."""
        return self.deps.services["jobs"]

    async def _check_job(self, job: dict[str, Any]) -> None:
        """Refuse a job request the jobs service would refuse, before assembling
        a file only to answer 400 about the job afterwards."""
        kind, params = job.get("kind"), job.get("params", {})
        if not isinstance(kind, str) or not isinstance(params, dict):
            raise BadRequest("job needs a 'kind' (text) and 'params' (an object).")
        spec = await self._jobs().kind_spec(kind)
        problems = list(Draft202012Validator(spec.params_schema).iter_errors(params))
        if not problems:
            return
        raise BadRequest(
            f"The job's params do not match what kind '{kind}' takes; nothing was "
            "assembled.",
            details=[
                {"pointer": "/job/params" + "".join(f"/{p}" for p in problem.path),
                 "message": problem.message[:300]}
                for problem in problems[:20]
            ],
        )

    async def _create_job(
        self, ctx: CallContext, upload_id: str, job: dict[str, Any]
    ) -> dict[str, Any]:
        created: dict[str, Any] = await self._jobs().create(
            ctx, upload_id=upload_id, **job
        )
        await self.db.execute(
            "UPDATE uploads SET job_id = $1 WHERE id = $2", created["id"], upload_id
        )
        return created


def _public(row: Row) -> dict[str, Any]:
    upload = dict(row)
    upload["size"] = upload.pop("size_bytes")
    return upload


def _require_open(row: Row) -> None:
    if row["status"] != UploadStatus.OPEN:
        check_move(row["status"], UploadStatus.FINALIZING)


def _check_complete(plan: ChunkPlan, present: dict[int, int]) -> None:
    good = {i for i, n in present.items()
            if i < plan.total_chunks and n == plan.chunk_length(i)}
    missing = plan.missing(good)
    if not missing:
        return
    shown = missing[:MISSING_SHOWN]
    raise BadRequest(
        f"{len(missing)} chunk(s) are missing; send them, then finalize again "
        f"(the chunks already received are kept). Missing: {shown[:20]}.",
        details=[{"field": "chunks", "missing_count": len(missing),
                  "missing_chunks": shown}],
    )


def _mismatch(row: Row, size: int, sha256: str) -> BadRequest:
    return BadRequest(
        "The assembled file does not match what was declared at init: "
        f"{size} bytes with SHA-256 {sha256}, declared {row['size_bytes']} bytes "
        f"with {row['sha256']}. The chunks are kept: resend the wrong ones, then "
        "finalize again.",
        details=[{"field": "sha256", "expected": row["sha256"], "actual": sha256,
                  "expected_size": row["size_bytes"], "actual_size": size}],
    )


def _swept_meanwhile(upload_id: str, grace: int) -> Conflict:
    log_event(logger, "upload.finalize_outlasted_grace", logging.WARNING,
              upload_id=upload_id, grace_seconds=grace)
    return Conflict(
        f"Assembling this upload took longer than the finalize grace ({grace} s), "
        "so it was reopened meanwhile; the chunks are kept: finalize again."
    )


def _own_subject(ctx: CallContext) -> str:
    principal = ctx.principal
    if not (writes_all(principal) or principal.has_role("user")):
        raise Forbidden("Only the roles user, operator and admin may upload files.")
    if not 1 <= len(principal.subject) <= MAX_SUBJECT:
        raise Forbidden(
            f"An upload's owner is its creator's token subject, which must be 1 to "
            f"{MAX_SUBJECT} characters; this token's is {len(principal.subject)}. "
            "Ask for a token with a shorter subject."
        )
    return principal.subject


def _write_scope(ctx: CallContext) -> str | None:
    principal = ctx.principal
    if writes_all(principal):
        return None
    if principal.has_role("user"):
        return principal.subject
    raise Forbidden("Your roles may read uploads but not change them.")


def _read_scope(ctx: CallContext) -> str | None:
    require_known_role(ctx.principal)
    return owner_scope(ctx.principal)


def _check_uuid(upload_id: str) -> None:
    try:
        uuid.UUID(upload_id)
    except (ValueError, TypeError, AttributeError):
        raise BadRequest(
            "upload_id must be an upload's id (a UUID), as POST /api/upload/init "
            "returned it.",
            details=[{"field": "upload_id", "value": str(upload_id)[:100]}],
        ) from None


def _content_type(value: str | None) -> str:
    if value is None:
        return DEFAULT_CONTENT_TYPE
    if CONTENT_TYPE.fullmatch(value):
        return value.lower()
    raise BadRequest(
        "content_type must be a media type such as video/mp4.",
        details=[{"pointer": "/content_type", "value": value[:100]}],
    )


def _status(value: str) -> str:
    try:
        return UploadStatus(value).value
    except ValueError:
        allowed = ", ".join(status.value for status in UploadStatus)
        raise BadRequest(f"status must be one of: {allowed}.") from None

