"""The bodies the jobs routes read and the resources they answer with.

Request models validate (``extra="forbid"``, strict numbers); response
models document. Both are registered as OpenAPI components by the routes.
The fields a caller may never set on a job are listed in
``SERVICE_FIELDS``: sending one is a 400 that names it, not a value the
service silently drops.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from agentos.errors import BadRequest
from agentos.services.clips import ClipReport
from agentos.services.job_lifecycle import JobStatus

SERVICE_FIELDS = (
    "id", "owner_id", "status", "attempts", "progress", "agent_type", "agent_id",
    "worker_id", "error", "result", "created_at", "queued_at", "started_at",
    "finished_at", "updated_at",
)
WORKER_ID_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"

_EXAMPLE_ID = "3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a"


def refuse_service_fields(body: Any) -> None:
    """Raise 400 naming every field of ``body`` that only the service sets."""
    if not isinstance(body, dict):
        return
    sent = [name for name in SERVICE_FIELDS if name in body]
    if sent:
        raise BadRequest(
            f"These fields are set by the service and may not be sent: "
            f"{', '.join(sent)}.",
            details=[{"pointer": f"/{name}", "message": "set by the service"}
                     for name in sent],
        )


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobCreate(_Request):
    """A new job: what kind, with which params, optionally from an upload."""

    kind: StrictStr = Field(min_length=1, max_length=64, examples=["clip.cut"])
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Checked against the params schema the kind's agent declares.",
        examples=[{"source": "talk.mp4", "start_ms": 0, "end_ms": 15000}],
    )
    upload_id: StrictStr | None = Field(
        default=None, max_length=64, description="A finalized upload of yours.",
        examples=[_EXAMPLE_ID],
    )
    priority: StrictInt = Field(
        default=5, ge=0, le=9, description="0 is dispatched last, 9 first."
    )


class JobCancel(_Request):
    """Why a job is cancelled; the body may be left out altogether."""

    reason: StrictStr | None = Field(
        default=None, max_length=500, examples=["the upload was the wrong file"]
    )


class JobStatusReport(_Request):
    """A worker's report on a job: progress, its start, or its end."""

    status: JobStatus = Field(
        description="running (start or progress), succeeded, failed or cancelled."
    )
    progress: StrictFloat | None = Field(
        default=None, ge=0, le=1, description="Fraction done, 0 to 1."
    )
    error: StrictStr | None = Field(default=None, max_length=4000)
    result: dict[str, Any] | None = Field(
        default=None, description="What the job produced, as a JSON object."
    )
    worker_id: StrictStr | None = Field(
        default=None, pattern=WORKER_ID_PATTERN, examples=["clipper-7f3a:1"]
    )
    clips: list[ClipReport] = Field(
        default_factory=list, max_length=1000,
        description="The clips made; only with status succeeded.",
    )


class Job(BaseModel):
    """A job as the API shows it."""

    id: str = Field(examples=[_EXAMPLE_ID])
    owner_id: str
    kind: str = Field(examples=["clip.cut"])
    params: dict[str, Any]
    status: JobStatus
    priority: int = Field(ge=0, le=9)
    agent_type: str | None
    agent_id: str | None
    worker_id: str | None
    upload_id: str | None
    attempts: int = Field(ge=0, description="Retries so far.")
    progress: float = Field(ge=0, le=1)
    error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class StatusCounts(BaseModel):
    """How many jobs are in each status."""

    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class JobsToday(BaseModel):
    """Jobs created since midnight UTC, with counts per status."""

    date: str = Field(examples=["2026-12-03"])
    counts: StatusCounts
    total: int
    jobs: list[Job]


class RunSeconds(BaseModel):
    """Run time of succeeded jobs, in seconds."""

    p50: float | None
    p95: float | None
    mean: float | None


class JobsSummary(BaseModel):
    """Counts per status and kind, success rate and run times."""

    total: int
    by_status: StatusCounts
    by_kind: dict[str, int]
    success_rate: float | None = Field(description="succeeded / (succeeded + failed)")
    run_seconds: RunSeconds


class JobList(BaseModel):
    """A short list of jobs, newest first."""

    jobs: list[Job]
    limit: int
