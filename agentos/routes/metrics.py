"""``GET /metrics``: the service's own figures in the Prometheus text format.

Counters and latency histograms per endpoint, per admin action and for the
SSOT cache, merged over every worker, plus gauges derived from them
(percentiles, error ratios, throughput, the cache hit ratio); see
``agentos.metrics``.

Who may read: with ``metrics.require_auth`` on (the default), a caller
whose access token holds one of the roles admin, operator, supervisor or
readonly, as a Prometheus scrape configured with a bearer token sends
(401 ``UNAUTHORIZED`` without a valid token, 403 ``FORBIDDEN`` for other
roles). Turned off, the figures go to anyone who reaches the port, so the
port must then stay off the public network.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi
from sanic_ext.extensions.openapi import definitions

from agentos import metrics
from agentos.auth.access import READ_ALL, require_any
from agentos.auth.tokens import verify_request
from agentos.http.answer import raw_answer
from agentos.http.docs import ErrorEnvelope, reference

bp = Blueprint("metrics")


def _refusal(status: int, description: str) -> definitions.Response:
    return definitions.Response(
        {"application/json": reference(ErrorEnvelope)},
        status=status,
        description=description,
    )


@bp.get("/metrics")
@openapi.definition(
    summary="The service's own figures, for Prometheus",
    description=(
        "Request counts, latency percentiles, 4xx and 5xx rates and throughput "
        "per endpoint; calls, outcomes and latency per admin action; the SSOT "
        "cache hit ratio and collection time. Aggregated over every worker. "
        "Roles: admin, operator, supervisor, readonly (no token needed when "
        "the `metrics.require_auth` setting is off)."
    ),
    tag="system",
    response=[
        definitions.Response(
            {"text/plain": str}, status=200, description="Prometheus text format 0.0.4."
        ),
        _refusal(401, "No valid access token (with `metrics.require_auth` on)."),
        _refusal(403, "The token's roles may not read the metrics."),
    ],
)
async def read_metrics(request: Request) -> HTTPResponse:
    """Every figure, rendered for a Prometheus scrape."""
    if request.app.ctx.settings.metrics.require_auth:
        principal = await verify_request(request)
        require_any(principal, READ_ALL, "read the service's metrics")

    body, content_type = metrics.exposition()
    return raw_answer(body, content_type=content_type)
