"""``/api/jobs``: create, read, cancel, retry jobs and take workers' reports.

Who may do what (``agentos.auth.access``): every known role reads, a
``user`` only its own jobs (another's answers 404); ``user``, ``operator``
and ``admin`` create; ``supervisor``, ``operator`` and ``admin`` cancel and
retry any job, a ``user`` its own; only ``operator`` and ``admin`` (the
accounts agents run under) report status. ``readonly`` writes nothing.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos.auth.access import JOB_CONTROL, KNOWN_ROLES, OWN_ONLY, READ_ALL, WRITE_ALL
from agentos.http.body import json_body, parse_model, read_model
from agentos.http.docs import envelope, page_envelope, request_body, responses
from agentos.http.envelope import ok, page_params
from agentos.http.request import (
    PAGE_PARAMETERS,
    ParameterSpec,
    bounded_int,
    caller,
    choice_parameter,
    int_parameter,
    list_parameter,
    query_args,
    query_parameter,
)
from agentos.routes.clips import ClipPage
from agentos.routes.job_models import (
    Job,
    JobCancel,
    JobCreate,
    JobList,
    JobsSummary,
    JobStatusReport,
    JobsToday,
    refuse_service_fields,
)
from agentos.services.base import CallContext
from agentos.services.job_lifecycle import JobStatus, parse_status
from agentos.services.job_queries import (
    DEFAULT_SORT,
    MAX_KIND_LENGTH,
    MAX_VALUES,
    SORTS,
    JobQuery,
    parse_query,
)
from agentos.services.jobs import MAX_RECENT, JobsService

bp = Blueprint("jobs", url_prefix="/api/jobs")

TAG = "jobs"
HISTORY_PARAMETERS: list[ParameterSpec] = [
    list_parameter(
        "status",
        choices=JobStatus,
        max_items=MAX_VALUES,
        description="Statuses to include, repeated or comma-separated.",
    ),
    list_parameter(
        "kind",
        max_length=MAX_KIND_LENGTH,
        max_items=MAX_VALUES,
        description="Kinds to include, repeated or comma-separated.",
    ),
    query_parameter("since", str, "Created at or after (ISO 8601)."),
    query_parameter("until", str, "Created before (ISO 8601)."),
    choice_parameter("sort", SORTS, default=DEFAULT_SORT,
                     description="A leading '-' sorts descending."),
    *PAGE_PARAMETERS,
]
JobEnvelope = envelope(Job)
JobPage = page_envelope(Job)


def _jobs(request: Request) -> JobsService:
    service: JobsService = request.app.ctx.services["jobs"]
    return service


async def _reader(request: Request) -> CallContext:
    return await caller(request, allowed=KNOWN_ROLES, sees_all=READ_ALL,
                        doing="read jobs")


async def _controller(request: Request, doing: str) -> CallContext:
    return await caller(request, allowed=JOB_CONTROL | OWN_ONLY, sees_all=JOB_CONTROL,
                        doing=doing)


def _paged(rows: list[dict[str, Any]], pagination: Any) -> HTTPResponse:
    return ok(rows, pagination=pagination)


# -- reading ------------------------------------------------------------------


@bp.get("/today")
@openapi.definition(
    summary="Today's jobs with counts per status",
    parameter=PAGE_PARAMETERS,
    description="Jobs created since midnight UTC, newest first, paginated "
    "(`page`, `per_page`), with the count of each status.",
    tag=TAG,
    response=responses(envelope(JobsToday), 400, 403),
)
async def today(request: Request) -> HTTPResponse:
    """Jobs created today (UTC) that the caller may see."""
    ctx = await _reader(request)
    page, per_page = page_params(query_args(request))
    data, pagination = await _jobs(request).today(ctx, page=page, per_page=per_page)
    return ok(data, pagination=pagination)


@bp.get("/history")
@openapi.definition(
    summary="Job history, filtered, sorted and paginated",
    parameter=HISTORY_PARAMETERS,
    description="Filters: `status` and `kind` (repeat or comma-separate), "
    "`since` and `until` (ISO 8601, on created_at), `sort` (`-created_at` by "
    "default; also created_at, priority, finished_at, updated_at, each with "
    "`-` for descending). Paginated with `page` and `per_page` (at most 100).",
    tag=TAG,
    response=responses(JobPage, 400, 403),
)
async def history(request: Request) -> HTTPResponse:
    """One page of the jobs the filters select."""
    ctx = await _reader(request)
    args = query_args(request)
    query = parse_query(args)
    page, per_page = page_params(args)
    rows, pagination = await _jobs(request).history(
        ctx, query, page=page, per_page=per_page
    )
    return _paged(rows, pagination)


@bp.get("/status/<status:str>")
@openapi.definition(
    summary="Jobs in one status",
    parameter=[choice_parameter("status", JobStatus, location="path"),
               *PAGE_PARAMETERS],
    description="Newest first, paginated. An unknown status name is a 400.",
    tag=TAG,
    response=responses(JobPage, 400, 403),
)
async def by_status(request: Request, status: str) -> HTTPResponse:
    """One page of the jobs in ``status``."""
    ctx = await _reader(request)
    query = JobQuery(statuses=(parse_status(status),))
    page, per_page = page_params(query_args(request))
    rows, pagination = await _jobs(request).history(
        ctx, query, page=page, per_page=per_page
    )
    return _paged(rows, pagination)


@bp.get("/summary/stats")
@openapi.definition(
    summary="Counts per status and kind, success rate and run times",
    tag=TAG,
    response=responses(envelope(JobsSummary), 403),
)
async def summary(request: Request) -> HTTPResponse:
    """Figures over every job the caller may see."""
    ctx = await _reader(request)
    return ok(await _jobs(request).summary(ctx))


@bp.get("/recent/<limit:str>")
@openapi.definition(
    summary="The newest jobs",
    description=f"`limit` is a whole number from 1 to {MAX_RECENT}.",
    # The route takes `limit` as text, so that "abc" answers the standard 400
    # rather than the 404 of a route that does not match; documented as a
    # number, since nothing else is accepted.
    parameter=int_parameter("limit", low=1, high=MAX_RECENT, location="path"),
    tag=TAG,
    response=responses(envelope(JobList), 400, 403),
)
async def recent(request: Request, limit: str) -> HTTPResponse:
    """The ``limit`` newest jobs the caller may see."""
    ctx = await _reader(request)
    count = bounded_int(limit, "limit", low=1, high=MAX_RECENT)
    jobs = await _jobs(request).recent(ctx, limit=count)
    return ok({"jobs": jobs, "limit": count})


@bp.get("/user/<user_id:str>")
@openapi.definition(
    summary="One user's jobs",
    parameter=PAGE_PARAMETERS,
    description="Newest first, paginated. A user asking for another user's "
    "jobs gets 404.",
    tag=TAG,
    response=responses(JobPage, 400, 403, 404),
)
async def of_user(request: Request, user_id: str) -> HTTPResponse:
    """One page of the jobs ``user_id`` owns."""
    ctx = await _reader(request)
    page, per_page = page_params(query_args(request))
    rows, pagination = await _jobs(request).of_user(
        ctx, user_id=user_id, page=page, per_page=per_page
    )
    return _paged(rows, pagination)


@bp.get("/<job_id:str>")
@openapi.definition(
    summary="One job",
    tag=TAG,
    response=responses(JobEnvelope, 400, 403, 404),
)
async def get_job(request: Request, job_id: str) -> HTTPResponse:
    """The job ``job_id``."""
    ctx = await _reader(request)
    return ok(await _jobs(request).get(ctx, job_id=job_id))


@bp.get("/<job_id:str>/clips")
@openapi.definition(
    summary="The clips a job produced",
    parameter=PAGE_PARAMETERS,
    description="In the order they were cut, paginated.",
    tag=TAG,
    response=responses(ClipPage, 400, 403, 404),
)
async def job_clips(request: Request, job_id: str) -> HTTPResponse:
    """One page of the clips of ``job_id``."""
    ctx = await _reader(request)
    page, per_page = page_params(query_args(request))
    rows, pagination = await _jobs(request).clips(
        ctx, job_id=job_id, page=page, per_page=per_page
    )
    return _paged(rows, pagination)


# -- writing ------------------------------------------------------------------


@bp.post("/create")
@openapi.definition(
    summary="Create a job; it is queued at once",
    description="`kind` must be one an agent declares and `params` must match "
    "that kind's schema. Sending a field the service sets (owner_id, status, "
    "attempts, ...) is a 400.",
    tag=TAG,
    body=request_body(JobCreate),
    response=responses(JobEnvelope, 400, 403, 404, 409, 415, status=201),
)
async def create(request: Request) -> HTTPResponse:
    """Create a job owned by the caller."""
    ctx = await caller(request, allowed=WRITE_ALL | OWN_ONLY, sees_all=WRITE_ALL,
                       doing="create jobs")
    body = json_body(request)
    refuse_service_fields(body)
    spec = parse_model(JobCreate, body)
    job = await _jobs(request).create(
        ctx, kind=spec.kind, params=spec.params, upload_id=spec.upload_id,
        priority=spec.priority,
    )
    return ok(job, status=201)


@bp.post("/<job_id:str>/cancel")
@openapi.definition(
    summary="Cancel a queued or running job",
    description="A running job's worker is told to stop. A finished job "
    "answers 409. The body, with an optional `reason`, may be left out.",
    tag=TAG,
    body=request_body(JobCancel, required=False),
    response=responses(JobEnvelope, 400, 403, 404, 409, 415),
)
async def cancel(request: Request, job_id: str) -> HTTPResponse:
    """Cancel ``job_id``."""
    ctx = await _controller(request, "cancel jobs")
    reason = read_model(request, JobCancel).reason if request.body.strip() else None
    return ok(await _jobs(request).cancel(ctx, job_id=job_id, reason=reason))


@bp.post("/<job_id:str>/retry")
@openapi.definition(
    summary="Queue a failed or cancelled job again",
    description="Counts one more attempt. Any other status answers 409.",
    tag=TAG,
    response=responses(JobEnvelope, 400, 403, 404, 409),
)
async def retry(request: Request, job_id: str) -> HTTPResponse:
    """Retry ``job_id``."""
    ctx = await _controller(request, "retry jobs")
    return ok(await _jobs(request).retry(ctx, job_id=job_id))


@bp.post("/<job_id:str>/status")
@openapi.definition(
    summary="A worker reports a job's progress, start or end",
    description="Legal moves only: queued -> running -> succeeded, failed or "
    "cancelled (running -> running reports progress); anything else is 409. "
    "Clips may come with `succeeded`.",
    tag=TAG,
    body=request_body(JobStatusReport),
    response=responses(JobEnvelope, 400, 403, 404, 409, 415),
)
async def report(request: Request, job_id: str) -> HTTPResponse:
    """Record a worker's report on ``job_id``."""
    ctx = await caller(request, allowed=WRITE_ALL, sees_all=WRITE_ALL,
                       doing="report job status")
    spec = read_model(request, JobStatusReport)
    job = await _jobs(request).report(
        ctx, job_id=job_id, status=spec.status, progress=spec.progress,
        error=spec.error,
        result=spec.result, worker_id=spec.worker_id, clips=spec.clips,
    )
    return ok(job)
