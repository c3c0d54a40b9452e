"""``/api/agents``: agent status, control, health, performance, logs, config, queue.

Every route authenticates. Reads are open to the roles that read
everything (admin, operator, supervisor, readonly); control, config and
queue changes to admin and operator. An agent is named in a path by its id
or by its name. The work is the agents service's; handlers only translate.
"""

from __future__ import annotations

from collections import Counter

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos.auth.access import READ_ALL, WRITE_ALL
from agentos.http.body import read_model
from agentos.http.docs import envelope, page_envelope, request_body, responses
from agentos.http.envelope import Page, ok, page_params
from agentos.http.request import (
    caller,
    choice_parameter,
    int_parameter,
    page_parameters,
    query_int,
    query_text,
    query_time,
)
from agentos.http.resources import shown
from agentos.routes import agent_models as m
from agentos.services.agent_reports import LOG_LEVELS
from agentos.services.agents import AgentsService
from agentos.services.base import CallContext

bp = Blueprint("agents")

TAG = "agents"
MAX_QUEUE_LIMIT = 100
QUEUE_LIMIT = 20
MAX_WINDOW_MINUTES = 10_080
LOGS_PER_PAGE = 50

_AGENT = envelope(m.AgentInfo)
_STATUS = envelope(m.AgentStatus)


def _agents(request: Request) -> AgentsService:
    service: AgentsService = request.app.ctx.services["agents"]
    return service


async def _reader(request: Request) -> CallContext:
    return await caller(request, READ_ALL, "read agents")


async def _operator(request: Request) -> CallContext:
    return await caller(request, WRITE_ALL, "control agents")


@bp.get("/api/agents/status")
@openapi.definition(
    summary="Every agent with its desired and observed state",
    description="Roles: admin, operator, supervisor, readonly.",
    tag=TAG,
    response=responses(_STATUS, 403),
)
async def agents_status(request: Request) -> HTTPResponse:
    """All agents, with counts by desired and observed state."""
    ctx = await _reader(request)
    agents = await _agents(request).overview(ctx)
    return ok(shown({
        "total": len(agents),
        "by_desired_state": dict(Counter(a["desired_state"] for a in agents)),
        "by_observed_state": dict(Counter(a["observed_state"] for a in agents)),
        "agents": agents,
    }))


@bp.get("/api/agents/health")
@openapi.definition(
    summary="Heartbeat age and health of every worker",
    description="A worker is healthy, late or dead by the age of its last "
    "heartbeat (thresholds in GET /api/agents/config); `stopped` when it exited "
    "cleanly. Roles: admin, operator, supervisor, readonly.",
    tag=TAG,
    response=responses(envelope(m.WorkersHealth), 403),
)
async def agents_health(request: Request) -> HTTPResponse:
    """Each worker's heartbeat age and health, with totals."""
    ctx = await _reader(request)
    return ok(shown(await _agents(request).health(ctx)))


@bp.get("/api/agents/performance")
@openapi.definition(
    summary="Per agent: jobs per minute, success rate, p50/p95 duration",
    description="Over the last `window_minutes` (default from the agents "
    "config). Roles: admin, operator, supervisor, readonly.",
    tag=TAG,
    parameter=int_parameter("window_minutes", low=1, high=MAX_WINDOW_MINUTES),
    response=responses(envelope(m.AgentsPerformance), 400, 403),
)
async def agents_performance(request: Request) -> HTTPResponse:
    """Throughput, success rate and job durations of each agent over a window."""
    ctx = await _reader(request)
    window = query_int(request.args, "window_minutes", None, low=1,
                       high=MAX_WINDOW_MINUTES)
    report = await _agents(request).performance(ctx, window_minutes=window)
    return ok(shown(report))


@bp.get("/api/agents/config")
@openapi.definition(
    summary="The fleet settings of all agents, with their version",
    description="Roles: admin, operator, supervisor, readonly.",
    tag=TAG,
    response=responses(envelope(m.FleetConfigVersion), 403),
)
async def get_agents_config(request: Request) -> HTTPResponse:
    """The current fleet settings and their version."""
    ctx = await _reader(request)
    return ok(shown(await _agents(request).fleet_config(ctx)))


@bp.post("/api/agents/config")
@openapi.definition(
    summary="Change the fleet settings: validated, stored as a new version",
    description="A JSON merge patch of the settings; `null` restores a default. "
    "The merged document is validated as a whole; an unchanged document makes "
    "no new version. With `base_version`, 409 if another change came first. "
    "Roles: admin, operator.",
    tag=TAG,
    body=request_body(m.FleetConfigUpdate),
    response=responses(envelope(m.FleetConfigVersion), 400, 403, 409, 415),
)
async def post_agents_config(request: Request) -> HTTPResponse:
    """Merge-patch the fleet settings into a new version."""
    ctx = await _operator(request)
    update = read_model(request, m.FleetConfigUpdate)
    result = await _agents(request).update_fleet_config(
        ctx, config=update.config, comment=update.comment,
        base_version=update.base_version,
    )
    return ok(shown(result))


@bp.post("/api/agents/restart")
@openapi.definition(
    summary="Restart every agent, or the listed ones",
    description="Each agent gets a new generation; its workers are replaced "
    "within one heartbeat. Without a body every agent restarts. "
    "Roles: admin, operator.",
    tag=TAG,
    body=request_body(m.RestartRequest, required=False),
    response=responses(envelope(m.Restarted), 400, 403, 404, 415),
)
async def restart_agents(request: Request) -> HTTPResponse:
    """Restart the named agents, or all of them."""
    ctx = await _operator(request)
    service = _agents(request)
    if not (request.body or b"").strip():
        return ok(shown(await service.restart_all(ctx)))

    wanted = read_model(request, m.RestartRequest).agent_ids
    if wanted is None:
        return ok(shown(await service.restart_all(ctx)))
    targets = [await service.load(ref) for ref in dict.fromkeys(wanted)]
    agents = [await service.restart(ctx, agent_id=row["id"]) for row in targets]
    return ok(shown({"restarted": len(agents), "agents": agents}))


@bp.post("/api/agents/clear-queue")
@openapi.definition(
    summary="Cancel every job queued for one agent's type",
    description="Running jobs are not touched. `confirm` must be true. "
    "Roles: admin, operator.",
    tag=TAG,
    body=request_body(m.ClearQueueRequest),
    response=responses(envelope(m.QueueCleared), 400, 403, 404, 415),
)
async def clear_agent_queue(request: Request) -> HTTPResponse:
    """Cancel the queued jobs of the agent's type; answer how many."""
    ctx = await _operator(request)
    body = read_model(request, m.ClearQueueRequest)
    result = await _agents(request).clear_queue(ctx, agent_id=body.agent_id)
    return ok(shown(result))


@bp.get("/api/agents/logs/<agent_id:str>")
@openapi.definition(
    summary="An agent's stored log lines, newest first",
    description="`level` returns that level and above; `since` and `until` are "
    "ISO 8601 times. Roles: admin, operator, supervisor, readonly.",
    tag=TAG,
    parameter=[
        choice_parameter("level", LOG_LEVELS,
                         description="This level and those above it."),
        {"name": "since", "schema": str, "location": "query"},
        {"name": "until", "schema": str, "location": "query"},
        *page_parameters(default_per_page=LOGS_PER_PAGE),
    ],
    response=responses(page_envelope(m.AgentLogLine), 400, 403, 404),
)
async def agent_logs(request: Request, agent_id: str) -> HTTPResponse:
    """One page of the agent's logs, filtered by level and time."""
    ctx = await _reader(request)
    page, per_page = page_params(request.args, default_per_page=LOGS_PER_PAGE)
    rows, total = await _agents(request).logs(
        ctx, agent_id=agent_id, level=query_text(request.args, "level"),
        since=query_time(request.args, "since"),
        until=query_time(request.args, "until"), page=page, per_page=per_page,
    )
    return ok(shown(rows), pagination=Page(page, per_page, total))


@bp.get("/api/agents/queue/<agent_id:str>")
@openapi.definition(
    summary="The jobs queued for an agent's type, in dispatch order",
    description="Roles: admin, operator, supervisor, readonly.",
    tag=TAG,
    parameter=int_parameter("limit", low=1, high=MAX_QUEUE_LIMIT, default=QUEUE_LIMIT),
    response=responses(envelope(m.AgentQueue), 400, 403, 404),
)
async def agent_queue(request: Request, agent_id: str) -> HTTPResponse:
    """The next jobs the agent's workers would take."""
    ctx = await _reader(request)
    limit = query_int(request.args, "limit", QUEUE_LIMIT, low=1, high=MAX_QUEUE_LIMIT)
    result = await _agents(request).queue(ctx, agent_id=agent_id, limit=limit)
    return ok(shown(result))


@bp.get("/api/agents/<agent_id:str>")
@openapi.definition(
    summary="One agent with its workers",
    description="`agent_id` is the agent's id or its name. "
    "Roles: admin, operator, supervisor, readonly.",
    tag=TAG,
    response=responses(_AGENT, 400, 403, 404),
)
async def get_agent(request: Request, agent_id: str) -> HTTPResponse:
    """The agent, its desired and observed state and each worker."""
    ctx = await _reader(request)
    return ok(shown(await _agents(request).get(ctx, agent_id=agent_id)))


@bp.post("/api/agents/<agent_id:str>/start")
@openapi.definition(
    summary="Set an agent's desired state to running",
    description="409 if it already runs. Roles: admin, operator.",
    tag=TAG,
    response=responses(_AGENT, 400, 403, 404, 409),
)
async def start_agent(request: Request, agent_id: str) -> HTTPResponse:
    """Start a stopped or draining agent."""
    ctx = await _operator(request)
    return ok(shown(await _agents(request).start(ctx, agent_id=agent_id)))


@bp.post("/api/agents/<agent_id:str>/stop")
@openapi.definition(
    summary="Set an agent's desired state to stopped",
    description="Its workers exit within one heartbeat; 409 if it is already "
    "stopped. Roles: admin, operator.",
    tag=TAG,
    response=responses(_AGENT, 400, 403, 404, 409),
)
async def stop_agent(request: Request, agent_id: str) -> HTTPResponse:
    """Stop a running or draining agent."""
    ctx = await _operator(request)
    return ok(shown(await _agents(request).stop(ctx, agent_id=agent_id)))

