"""``POST /api/admin/action`` and ``GET /api/admin/action/status``.

The request names an action and its payload::

    {"action": "job.cancel", "payload": {"job_id": "...", "reason": "..."}}

and passes the admin action pipeline (``agentos.pipeline.runner``)::

    authenticate -> resolve -> authorize -> rate limit -> validate
      -> idempotency -> breaker -> dispatch -> audit -> envelope

The status endpoint reports the registry, every breaker and per-action
figures, or one async execution (``agentos.pipeline.status``). Both
handlers only hand the request to the worker's pipeline.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos.http.envelope import ok
from agentos.http.request import uuid_parameter
from agentos.pipeline.status import action_status
from agentos.registry.openapi import request_body

bp = Blueprint("admin_action")


@bp.post("/api/admin/action")
@openapi.definition(
    summary="Run an admin action",
    description=(
        "Runs one action of the registry (`actions.d/`). The body names the "
        "action and carries its payload; the `AdminActionRequest` schema lists "
        "every action with its payload. A sync action answers 200 with its "
        "result; an async one 202 with an `execution_id` and a `Location` to "
        "its status. Send `X-Idempotency-Key` to make retries safe: a retry "
        "replays the first answer with `Idempotent-Replayed: true`. Errors: "
        "400 UNKNOWN_ACTION, VALIDATION_ERROR or INVALID_IDEMPOTENCY_KEY; 401; "
        "403 FORBIDDEN or IP_NOT_ALLOWED; 404 for a resource the caller may "
        "not see; 409 IDEMPOTENCY_IN_PROGRESS; 422 IDEMPOTENCY_KEY_REUSED; "
        "429 RATE_LIMITED or LOCKED_OUT; 503 CIRCUIT_OPEN or DEPENDENCY_DOWN "
        "(with Retry-After); 504 ACTION_TIMEOUT when the target service does "
        "not answer within its breaker's call_timeout_seconds (the action may "
        "or may not have taken effect). Every call is audited."
    ),
    body=request_body(),
    tag="admin",
)
async def run_action(request: Request) -> HTTPResponse:
    """Run one action through the pipeline."""
    response: HTTPResponse = await request.app.ctx.pipeline.handle(request)
    return response


@bp.get("/api/admin/action/status")
@openapi.definition(
    summary="Registry, breakers and per-action figures, or one execution",
    description=(
        "Without arguments: the registry version and action count, every "
        "circuit breaker's state, and per action the calls, failure and "
        "refusal rates and p50/p95/p99 latency across all workers (roles "
        "that read everything). With `?execution_id=`: one async execution "
        "(queued, running, succeeded, failed or interrupted) with its "
        "progress and result or error; its caller may read it too."
    ),
    parameter=uuid_parameter(
        "execution_id",
        location="query",
        description="The id a 202 answer returned; leave out for the overview.",
    ),
    tag="admin",
)
async def status(request: Request) -> HTTPResponse:
    """The action status, or one execution's."""
    return ok(await action_status(request.app.ctx.pipeline, request))
