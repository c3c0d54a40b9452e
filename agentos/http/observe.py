"""Every answered request counted in the service's own figures.

``record_response`` is a response middleware: it reads the start time the
trace middleware stamped and records the request under its route pattern
(``/api/jobs/<job_id>``, never the raw path, so that the figures keep a
bounded set of names). A request that matched no route counts as
``unmatched``. ``prepare_metrics`` runs in the main process before the
workers start and turns on the multi-process mode when there are several.
"""

from __future__ import annotations

import time
from typing import Any

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

from agentos import metrics

UNMATCHED = "unmatched"


async def record_response(request: Request, response: BaseHTTPResponse) -> None:
    """Record the request's route, method, status and duration."""
    started = getattr(request.ctx, "started", None)
    if started is None:
        return
    route = request.uri_template if request.route is not None else None
    seconds = time.perf_counter() - started
    metrics.record_request(
        route or UNMATCHED, request.method, response.status, seconds
    )


async def prepare_metrics(app: Sanic[Any, Any]) -> None:
    """Main process: share the figures between workers when there are several."""
    settings = app.ctx.settings
    if settings.workers > 1:
        metrics.prepare_multiprocess(settings.data_dir)
