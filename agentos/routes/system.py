"""``GET /`` and ``GET /health``: what this service is, and whether it is well."""

from __future__ import annotations

import asyncio
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos import __version__
from agentos.errors import AgentOSError
from agentos.http.envelope import ok

bp = Blueprint("system")

HEALTH_TIMEOUT_SECONDS = 2.0


@bp.get("/")
@openapi.definition(
    summary="Service name, version and links",
    tag="system",
)
async def index(request: Request) -> HTTPResponse:
    """Name, version and where to find the docs and the health check."""
    return ok(
        {
            "name": "AgentOS control plane",
            "version": __version__,
            "links": {
                "docs": "/docs",
                "openapi": "/docs/openapi.json",
                "health": "/health",
            },
        }
    )


@bp.get("/health")
@openapi.definition(
    summary="Round trips to the database and the state store",
    description="200 with status `ok` when both answer; 503 with status "
    "`degraded` naming each failing dependency otherwise.",
    tag="system",
)
async def health(request: Request) -> HTTPResponse:
    """Ping the database and the state store; report each with its latency."""
    ctx = request.app.ctx
    database, state = await asyncio.gather(
        _probe(ctx.db, ctx.db.dialect), _probe(ctx.state, ctx.state.backend)
    )
    checks = {"database": database, "state": state}
    failing = [name for name, check in checks.items() if check["status"] != "ok"]
    data: dict[str, Any] = {
        "status": "degraded" if failing else "ok",
        "version": __version__,
        "checks": checks,
    }
    registry = getattr(ctx, "registry", None)
    if registry is not None:
        data["registry_version"] = registry.current.version
    if failing:
        data["failing"] = failing
    return ok(data, status=503 if failing else 200)


async def _probe(component: Any, backend: str) -> dict[str, Any]:
    try:
        latency = await asyncio.wait_for(component.ping(), HEALTH_TIMEOUT_SECONDS)
    except (AgentOSError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "message", None) or "no answer in time"
        return {"status": "down", "backend": backend, "error": reason}
    return {"status": "ok", "backend": backend, "latency_ms": round(latency, 3)}
