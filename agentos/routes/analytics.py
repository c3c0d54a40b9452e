"""``/api/analytics/metrics``: jobs and uploads over a window of days.

Every known role reads it; for a ``user`` every figure counts only its own
jobs and uploads (``scope`` says which).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos.auth.access import KNOWN_ROLES, READ_ALL
from agentos.http.docs import envelope, responses
from agentos.http.envelope import ok
from agentos.http.request import caller, int_parameter, query_int
from agentos.routes.job_models import RunSeconds
from agentos.services.analytics import MAX_WINDOW_DAYS, AnalyticsService

bp = Blueprint("analytics", url_prefix="/api/analytics")

TAG = "analytics"
WINDOW_DAYS = 7


class MetricsWindow(BaseModel):
    """The days the figures cover: from midnight UTC ``days - 1`` days ago."""

    days: int = Field(ge=1, le=MAX_WINDOW_DAYS)
    since: datetime
    until: datetime


class JobsOfDay(BaseModel):
    """Jobs created on one day (UTC), by their status now."""

    date: str = Field(examples=["2026-12-03"])
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class Throughput(BaseModel):
    """Jobs that finished in the window."""

    finished: int
    succeeded: int
    per_hour: float = Field(description="Succeeded jobs per hour of the window.")


class UploadVolume(BaseModel):
    """Uploads started in the window."""

    count: int
    by_status: dict[str, int]
    bytes_complete: int = Field(description="Bytes of the uploads that completed.")


class Metrics(BaseModel):
    """Jobs per status and day, throughput, failure rate and upload volume."""

    window: MetricsWindow
    jobs_per_day: list[JobsOfDay]
    throughput: Throughput
    failure_rate: float | None = Field(description="failed / (succeeded + failed)")
    run_seconds: RunSeconds
    uploads: UploadVolume
    scope: Literal["own", "all"]


def _analytics(request: Request) -> AnalyticsService:
    service: AnalyticsService = request.app.ctx.services["analytics"]
    return service


@bp.get("/metrics")
@openapi.definition(
    summary="Jobs per status and day, throughput, failure rate, upload volume",
    description=f"Over the last `days` days ({WINDOW_DAYS} by default, "
    f"at most {MAX_WINDOW_DAYS}).",
    tag=TAG,
    parameter=int_parameter("days", low=1, high=MAX_WINDOW_DAYS, default=WINDOW_DAYS,
                            description="Days covered, today included."),
    response=responses(envelope(Metrics), 400, 403),
)
async def metrics(request: Request) -> HTTPResponse:
    """The figures over the window that the caller may see."""
    ctx = await caller(request, allowed=KNOWN_ROLES, sees_all=READ_ALL,
                       doing="read analytics")
    days = query_int(request.args, "days", WINDOW_DAYS, low=1, high=MAX_WINDOW_DAYS)
    return ok(await _analytics(request).metrics_for(ctx, window_days=days))
