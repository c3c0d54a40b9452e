"""``/api/queue``: whether dispatch runs, what waits, and how fast it moves.

Every known role reads these. The line in ``/details`` shows a ``user``
only its own jobs, each with its place in the whole line; the counts in
``/status`` and ``/stats`` are of the shared queue and name no one's jobs.
Pausing, resuming and clearing the queue are admin actions.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos.auth.access import KNOWN_ROLES, READ_ALL
from agentos.http.docs import envelope, responses
from agentos.http.envelope import ok
from agentos.http.request import (
    caller,
    int_parameter,
    query_int,
    query_parameter,
    query_text,
)
from agentos.services.base import CallContext
from agentos.services.queue import MAX_DETAILS, QueueService

bp = Blueprint("queue", url_prefix="/api/queue")

TAG = "queue"
MAX_WINDOW_MINUTES = 7 * 24 * 60
WINDOW_MINUTES = 60
DETAILS_LIMIT = 20


class QueuePause(BaseModel):
    """Who paused dispatch, when and why."""

    reason: str | None
    by: str | None
    since: datetime | None


class TypeDepth(BaseModel):
    """Jobs waiting for one agent type."""

    total: int = Field(ge=0)
    by_priority: dict[str, int] = Field(
        description="Priority (\"0\" to \"9\") to count; empty priorities left out.",
        examples=[{"9": 2, "5": 14}],
    )


class QueueStatus(BaseModel):
    """Whether dispatch is paused, and the depth per agent type and priority."""

    paused: bool
    pause: QueuePause | None
    depth: int = Field(ge=0, description="Jobs waiting in all.")
    by_agent_type: dict[str, TypeDepth]


class QueuedJob(BaseModel):
    """A waiting job and its place in line."""

    id: str
    owner_id: str
    kind: str
    priority: int = Field(ge=0, le=9)
    agent_type: str
    attempts: int
    created_at: datetime
    queued_at: datetime | None
    position: int = Field(ge=1, description="1 is the next to be dispatched.")
    waiting_seconds: float | None


class QueueDetails(BaseModel):
    """The next jobs in dispatch order."""

    jobs: list[QueuedJob]
    limit: int
    agent_type: str | None


class WaitSeconds(BaseModel):
    """Time from enqueue to start of the jobs started in the window."""

    p50: float | None
    p95: float | None
    max: float | None


class QueueStats(BaseModel):
    """Enqueue and dequeue rates and wait times over a window."""

    window_minutes: int
    since: datetime
    enqueued: int
    dequeued: int
    enqueue_per_minute: float
    dequeue_per_minute: float
    wait_seconds: WaitSeconds
    oldest_waiting_seconds: float | None


def _queue(request: Request) -> QueueService:
    service: QueueService = request.app.ctx.services["queue"]
    return service


async def _reader(request: Request) -> CallContext:
    return await caller(request, allowed=KNOWN_ROLES, sees_all=READ_ALL,
                        doing="read the queue")


@bp.get("/status")
@openapi.definition(
    summary="Paused or not, and depth per agent type and priority",
    tag=TAG,
    response=responses(envelope(QueueStatus), 403),
)
async def status(request: Request) -> HTTPResponse:
    """Whether dispatch runs and how many jobs wait where."""
    await _reader(request)
    return ok(await _queue(request).status())


@bp.get("/details")
@openapi.definition(
    summary="The next jobs in dispatch order",
    parameter=[
        int_parameter("limit", low=1, high=MAX_DETAILS, default=DETAILS_LIMIT,
                      description="Jobs shown."),
        query_parameter("agent_type", str, "Only this agent type's line."),
    ],
    description=f"`limit` from 1 to {MAX_DETAILS} ({DETAILS_LIMIT} by default); "
    "`agent_type` narrows the line to one agent type.",
    tag=TAG,
    response=responses(envelope(QueueDetails), 400, 403),
)
async def details(request: Request) -> HTTPResponse:
    """The head of the line, highest priority and oldest first."""
    ctx = await _reader(request)
    limit = query_int(request.args, "limit", DETAILS_LIMIT, low=1, high=MAX_DETAILS)
    agent_type = query_text(request.args, "agent_type", max_length=64)
    jobs = await _queue(request).queued(ctx, agent_type=agent_type, limit=limit)
    return ok({"jobs": jobs, "limit": limit, "agent_type": agent_type})


@bp.get("/stats")
@openapi.definition(
    summary="Enqueue and dequeue rates, wait-time p50 and p95",
    parameter=int_parameter("window_minutes", low=1, high=MAX_WINDOW_MINUTES,
                            default=WINDOW_MINUTES, description="Minutes looked back."),
    description=f"Over the last `window_minutes` ({WINDOW_MINUTES} by default, "
    f"at most {MAX_WINDOW_MINUTES}).",
    tag=TAG,
    response=responses(envelope(QueueStats), 400, 403),
)
async def stats(request: Request) -> HTTPResponse:
    """How fast jobs enter and leave the queue."""
    await _reader(request)
    window = query_int(request.args, "window_minutes", WINDOW_MINUTES, low=1,
                       high=MAX_WINDOW_MINUTES)
    return ok(await _queue(request).stats(window_minutes=window))
