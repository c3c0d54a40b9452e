"""``GET /api/admin/action/status``: how the actions and their breakers are doing.

Without arguments it reports the registry (version and action count), every
breaker's state (one per target service of the registry and of
``breakers.yaml``) and, per action, the calls, failure and refusal rates
and the p50/p95/p99 latency of all workers (``agentos.pipeline.stats``).
With ``?execution_id=`` it reports one async execution instead.

Who may read it: an authenticated caller from the admin allowlist. The
overview needs a role that reads everything (admin, operator, supervisor,
readonly); an execution may also be read by the caller who started it. Any
other caller is told the execution does not exist (404), so ids of other
users' executions cannot be probed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from agentos.auth.access import reads_all
from agentos.errors import BadRequest, Forbidden, NotFound
from agentos.pipeline.authz import check_address
from agentos.pipeline.breaker import describe as describe_breakers
from agentos.pipeline.client_ip import request_client_ip
from agentos.pipeline.executions import describe as describe_execution
from agentos.pipeline.runner import Pipeline
from agentos.services.base import Principal


async def action_status(pipeline: Pipeline, request: Any) -> dict[str, Any]:
    """The overview, or one execution when the query names one."""
    principal = await _admit(pipeline, request)
    wanted = request.args.getlist("execution_id") or []
    if wanted:
        return await execution_status(pipeline, principal, _one_id(wanted))
    if not reads_all(principal):
        raise Forbidden("Only roles that read everything may see the action status.")
    return await overview(pipeline)


async def overview(pipeline: Pipeline) -> dict[str, Any]:
    """Registry, breakers and per-action figures."""
    registry = pipeline.registry.current
    targets = {spec.service for spec in registry}
    services = sorted(targets | set(pipeline.breakers.policies.services))
    snapshots, figures = await asyncio.gather(
        asyncio.gather(*(pipeline.breakers.snapshot(name) for name in services)),
        pipeline.stats.read(),
    )
    return {
        "registry": {"version": registry.version, "actions": len(registry)},
        "breakers": describe_breakers(dict(zip(services, snapshots, strict=True))),
        "actions": figures,
        "audit": {"deferred_records": pipeline.audit.deferred},
    }


async def execution_status(
    pipeline: Pipeline, principal: Principal, execution_id: str
) -> dict[str, Any]:
    """One execution, if the caller may see it; otherwise 404."""
    row = await pipeline.executions.get(execution_id)
    if row is None or not (reads_all(principal) or row["actor"] == principal.subject):
        raise NotFound("No execution with this id is visible to you.")
    return describe_execution(row)


async def _admit(pipeline: Pipeline, request: Any) -> Principal:
    principal: Principal = await pipeline.authenticator.authenticate(request)
    access = pipeline.access_policy()
    address = request_client_ip(request, access.trusted_proxies)
    check_address(access, address).raise_if_denied()
    return principal


def _one_id(values: Sequence[str]) -> str:
    if len(values) != 1:
        raise BadRequest("Name one execution: ?execution_id=<id>.")
    try:
        return str(uuid.UUID(values[0]))
    except ValueError:
        raise BadRequest(
            "execution_id must be the id a 202 answer returned (a UUID).",
            details=[{"pointer": "/execution_id", "message": "is not a UUID"}],
        ) from None
