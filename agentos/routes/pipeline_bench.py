"""``POST /bench/bare``: the baseline that ``bench/pipeline_bench.py`` measures against.

A bare endpoint of the same app: it reads and parses the same JSON body as
``POST /api/admin/action`` and answers the same envelope, and does nothing
else. It exists only when ``pipeline.bench_endpoint`` is on (benchmarks),
is left out of the API documentation, and no rate-limit tier counts it.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos.http.body import json_body
from agentos.http.envelope import ok

bench_bp = Blueprint("pipeline_bench")


@bench_bp.post("/bench/bare")
@openapi.exclude()
async def bare(request: Request) -> HTTPResponse:
    """Parse the body and answer it in the envelope; nothing more."""
    document = json_body(request)
    return ok({"action": document.get("action"), "result": None})
