"""``GET /metrics``: the service's own figures in the Prometheus text format.

Counters and latency histograms per endpoint, per admin action and for the
SSOT cache, merged over every worker, plus gauges derived from them
(percentiles, error ratios, throughput, the cache hit ratio); see
``agentos.metrics``. Like ``/health`` it asks for no token, so that a
scraper needs no credentials: keep it off the public network.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw
from sanic_ext import openapi
from sanic_ext.extensions.openapi import definitions

from agentos import metrics

bp = Blueprint("metrics")


@bp.get("/metrics")
@openapi.definition(
    summary="The service's own figures, for Prometheus",
    description=(
        "Request counts, latency percentiles, 4xx and 5xx rates and throughput "
        "per endpoint; calls, outcomes and latency per admin action; the SSOT "
        "cache hit ratio and collection time. Aggregated over every worker."
    ),
    tag="system",
    response=[
        definitions.Response(
            {"text/plain": str}, status=200, description="Prometheus text format 0.0.4."
        )
    ],
)
async def read_metrics(request: Request) -> HTTPResponse:
    """Every figure, rendered for a Prometheus scrape."""
    body, content_type = metrics.exposition()
    return raw(body, content_type=content_type)
