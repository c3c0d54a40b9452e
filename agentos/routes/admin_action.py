"""``POST /api/admin/action``: the one endpoint through which operators act.

The request names an action and its payload::

    {"action": "job.cancel", "payload": {"job_id": "...", "reason": "..."}}

and passes these stages, each a small function below, in this order:

    authenticate -> read -> resolve -> authorize -> validate -> dispatch -> reply
    401             400     400        403          400         the target's

The registry is read once per request, so a reload in the middle of a
request does not change the action under it. The pipeline's stages (rate
limit, idempotency, circuit breaker, audit) slot in between these.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos.auth.tokens import verify_request
from agentos.http.body import json_body
from agentos.http.envelope import ok
from agentos.logs import trace_id_var
from agentos.registry import Call, Registry
from agentos.registry.openapi import request_body
from agentos.registry.permissions import Decision
from agentos.registry.spec import ActionSpec
from agentos.services.base import CallContext, Principal

bp = Blueprint("admin_action")


@bp.post("/api/admin/action")
@openapi.definition(
    summary="Run an admin action",
    description=(
        "Runs one action of the registry (`actions.d/`). The body names the "
        "action and carries its payload; the `AdminActionRequest` schema lists "
        "every action with its payload. Answers 400 UNKNOWN_ACTION for an "
        "undeclared action, 403 FORBIDDEN when the caller's roles do not grant "
        "its permission, 400 VALIDATION_ERROR with one detail per invalid field."
    ),
    body=request_body(),
    tag="admin",
)
async def run_action(request: Request) -> HTTPResponse:
    """Authenticate, resolve, authorize, validate and dispatch one action."""
    return await request.app.ctx.pipeline.handle(request)  # TEMP-PIPELINE
    principal = await verify_request(request)
    document = json_body(request)
    registry: Registry = request.app.ctx.registry.current

    spec = resolve(registry, document)
    decision = authorize(registry, principal, spec)
    call = validate(registry, spec, document)

    result = await dispatch(request, call, call_context(request, principal, decision))
    return reply(spec, result)


def resolve(registry: Registry, document: Any) -> ActionSpec:
    """The spec the body names; 400 UNKNOWN_ACTION or VALIDATION_ERROR."""
    return registry.resolve(document)


def authorize(registry: Registry, principal: Principal, spec: ActionSpec) -> Decision:
    """Whether the caller's roles grant the action; 403 FORBIDDEN if not."""
    return registry.authorize(principal, spec)


def validate(registry: Registry, spec: ActionSpec, document: Any) -> Call:
    """The body validated by the registry's union; 400 with a detail per field."""
    return registry.validate(spec, document)


def call_context(
    request: Request, principal: Principal, decision: Decision
) -> CallContext:
    """Who calls, from where, under which trace, and limited to what they own?"""
    return CallContext(
        principal=principal,
        trace_id=trace_id_var.get(),
        client_ip=request.remote_addr or request.ip,
        own_only=decision.own_only,
    )


async def dispatch(request: Request, call: Call, ctx: CallContext) -> Any:
    """Run the target operation of the action."""
    return await call.dispatch(request.app.ctx.services, ctx)


def reply(spec: ActionSpec, result: Any) -> HTTPResponse:
    """The success envelope around the target's result.

    An ``async`` action is dispatched like a ``sync`` one for now and answers
    200 with its result: the executions store that would let it answer 202
    with an execution id comes with the pipeline. None of the actions
    declared so far is ``async``.
    """
    return ok({"action": spec.name, "result": _plain(result)})


def _plain(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return result


@bp.get("/api/admin/action/status")  # TEMP-PIPELINE
async def action_status_route(request: Request) -> HTTPResponse:
    from agentos.pipeline.status import action_status
    return ok(await action_status(request.app.ctx.pipeline, request))
