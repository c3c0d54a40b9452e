"""Trace ids: kept from the caller when valid, made up when not, echoed back.

A caller's ``X-Trace-Id`` is kept when it is 8 to 128 characters of letters,
digits, ``.``, ``_`` or ``-``; anything else (a 10,000-character header, a
newline, quotes) is replaced, never echoed, so that a trace id can be logged
and put in a header safely. Without one, the trace id of a W3C
``traceparent`` header is used; without either, a new random id.
"""

from __future__ import annotations

import random
import re
import time

from sanic import Request
from sanic.response import HTTPResponse

from agentos.http.envelope import started_var
from agentos.logs import clear_context, trace_id_var

TRACE_HEADER = "X-Trace-Id"
_VALID_TRACE_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_NULL_TRACE = "0" * 32


def trace_id_for(request: Request) -> str:
    """The trace id this request is handled under."""
    given = request.headers.get(TRACE_HEADER, "")
    if _VALID_TRACE_ID.fullmatch(given):
        return given

    parent = request.headers.get("traceparent", "").strip().lower()
    match = _TRACEPARENT.fullmatch(parent)
    if match and match.group(1) != _NULL_TRACE:
        return match.group(1)

    return new_trace_id()


def new_trace_id() -> str:
    """32 random hex digits, never all zeros (as W3C trace ids are)."""
    # A trace id must be unique, not secret: the module's generator makes one
    # without the system call and the UUID object that uuid4() costs.
    return f"{random.getrandbits(128) | 1:032x}"


async def start_request(request: Request) -> None:
    """Request middleware: stamp the start time and bind the trace id."""
    clear_context()
    started_var.set(time.perf_counter())
    request.ctx.started = time.perf_counter()
    request.ctx.trace_id = trace_id_for(request)
    trace_id_var.set(request.ctx.trace_id)


async def echo_trace_id(request: Request, response: HTTPResponse) -> None:
    """Response middleware: send the trace id back."""
    trace_id = getattr(request.ctx, "trace_id", None)
    if trace_id:
        response.headers[TRACE_HEADER] = trace_id
