"""Clips: the pieces a finished job cut from its upload, as agents report them.

A clip row is written in the same transaction as the report that ends its
job ``succeeded`` (see ``JobsService.report``), so a job never shows as
succeeded with half of its clips. Its ``path`` is relative to the clip
storage folder; this service checks that it stays inside that folder but
does not read the file. A clip belongs to its job's owner.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agentos.errors import NotFound
from agentos.http.envelope import Page
from agentos.services.base import CallContext, Service
from agentos.services.catalog import register
from agentos.services.records import Row, public, require_uuid, utc_now
from agentos.store.base import Executor

MAX_PATH_LENGTH = 1024
MAX_CLIPS_PER_REPORT = 1000

_CLIP_FIELDS = (
    "id, job_id, owner_id, path, start_ms, end_ms, size_bytes, sha256, created_at"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ClipReport(BaseModel):
    """One clip as a worker reports it when its job succeeds."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1, max_length=MAX_PATH_LENGTH,
        description="Relative to the clip storage folder.",
        examples=["2026/12/03/3f2c0b8e/clip-001.mp4"],
    )
    start_ms: int = Field(ge=0, le=2**53)
    end_ms: int = Field(gt=0, le=2**53)
    size_bytes: int = Field(ge=0, le=2**53)
    sha256: str = Field(
        min_length=64, max_length=64, description="Lower-case hex digest of the file."
    )

    @field_validator("path")
    @classmethod
    def _inside_storage(cls, path: str) -> str:
        if "\x00" in path or "\\" in path:
            raise ValueError("must not contain NUL or backslashes")
        parts = path.split("/")
        if path.startswith("/") or any(part in {"", ".", ".."} for part in parts):
            raise ValueError(
                "must be a relative path without empty, '.' or '..' segments"
            )
        return path

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, digest: str) -> str:
        if not _SHA256.fullmatch(digest):
            raise ValueError("must be 64 lower-case hexadecimal characters")
        return digest

    @model_validator(mode="after")
    def _ends_after_start(self) -> ClipReport:
        if self.end_ms <= self.start_ms:
            raise ValueError("end_ms must be greater than start_ms")
        return self


def render(row: Row) -> Row:
    """A clip as callers see it, with its duration."""
    return {**public(row), "duration_ms": row["end_ms"] - row["start_ms"]}


@register
class ClipsService(Service):
    """Reading clips, and recording those a succeeded job produced."""

    name = "clips"

    async def get(self, ctx: CallContext, *, clip_id: str) -> Row:
        """One clip; another owner's clip is 404 under ``ctx.own_only``."""
        clip_id = require_uuid(clip_id, "clip_id")
        row = await self.db.fetchrow(
            f"SELECT {_CLIP_FIELDS} FROM clips WHERE id = $1", clip_id
        )
        if row is None or (ctx.own_only and row["owner_id"] != ctx.principal.subject):
            raise NotFound("No clip with this id is visible to you.")
        return render(row)

    async def recent(
        self, ctx: CallContext, *, page: int = 1, per_page: int = 20
    ) -> tuple[list[Row], Page]:
        """The newest clips first, the caller's own under ``ctx.own_only``."""
        if ctx.own_only:
            owner = [ctx.principal.subject]
            return await self._page("WHERE owner_id = $1", owner, page, per_page)
        return await self._page("", [], page, per_page)

    async def of_job(
        self, job_id: str, *, page: int = 1, per_page: int = 20
    ) -> tuple[list[Row], Page]:
        """The clips of one job, in the order they were cut.

        The caller must have checked that the job is visible to it.
        """
        return await self._page("WHERE job_id = $1", [job_id], page, per_page,
                                order="start_ms ASC, id ASC")

    async def _page(
        self,
        where: str,
        args: list[Any],
        page: int,
        per_page: int,
        *,
        order: str = "created_at DESC, id DESC",
    ) -> tuple[list[Row], Page]:
        total = await self.db.fetchval(f"SELECT COUNT(*) FROM clips {where}", *args)
        n = len(args)
        rows = await self.db.fetch(
            f"SELECT {_CLIP_FIELDS} FROM clips {where} ORDER BY {order} "
            f"LIMIT ${n + 1} OFFSET ${n + 2}",
            *args, per_page, (page - 1) * per_page,
        )
        return [render(row) for row in rows], Page(page, per_page, int(total or 0))

    async def record(
        self, tx: Executor, job: Row, clips: Sequence[ClipReport]
    ) -> list[Row]:
        """Insert the clips of ``job`` within the caller's transaction ``tx``."""
        now = utc_now()
        rows = [
            (str(uuid.uuid4()), job["id"], job["owner_id"], clip.path, clip.start_ms,
             clip.end_ms, clip.size_bytes, clip.sha256, now)
            for clip in clips
        ]
        if rows:
            await tx.executemany(
                f"INSERT INTO clips ({_CLIP_FIELDS}) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                rows,
            )
        return [dict(zip(_CLIP_FIELDS.split(", "), row, strict=True)) for row in rows]
