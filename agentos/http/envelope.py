"""The response envelopes every endpoint answers with.

Success::

    {"success": true, "data": ..., "timestamp": "...Z",
     "response_time_ms": 1.2, "trace_id": "..."}

lists add ``pagination``. Errors carry ``error``, ``error_code`` and
``details`` instead of ``data``. The trace id and the request's start come
from context variables set by the trace middleware, so handlers only say
what they answer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from json import JSONEncoder
from typing import Any

from sanic.helpers import json_dumps
from sanic.response import HTTPResponse

from agentos.errors import AgentOSError, BadRequest
from agentos.http.answer import Answer
from agentos.logs import trace_id_var

started_var: ContextVar[float] = ContextVar("agentos_request_started", default=0.0)

MAX_PAGE = 1_000_000
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20

_COMPACT = JSONEncoder(separators=(",", ":"))
"""Built once: ``json.dumps`` with options builds an encoder on every call."""


def _now() -> str:
    """The time as ISO 8601 in UTC to the millisecond: ``2026-12-04T12:00:00.123Z``."""
    now = time.time()
    second = int(now)
    return f"{_formatted_second(second)}.{int((now - second) * 1000):03d}Z"


@lru_cache(maxsize=1)
def _formatted_second(second: int) -> str:
    # Formatted once per second; every answer within it only adds milliseconds.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def _elapsed_ms() -> float:
    started = started_var.get()
    return round((time.perf_counter() - started) * 1000, 3) if started else 0.0


def ok(
    data: Any,
    *,
    status: int = 200,
    pagination: Page | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTTPResponse:
    """A success envelope around ``data``."""
    body: dict[str, Any] = {"success": True, "data": data}
    if pagination is not None:
        body["pagination"] = pagination.as_dict()
    body.update(
        timestamp=_now(), response_time_ms=_elapsed_ms(), trace_id=trace_id_var.get()
    )
    return _json(body, status, dict(headers or {}))


def ok_raw(
    data: Sequence[bytes | memoryview],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTTPResponse:
    """A success envelope around ``data``, JSON already serialized in parts.

    The parts are joined into the body as they are, neither parsed nor
    re-encoded: for answers kept as bytes, such as the cached SSOT document.
    """
    tail = _COMPACT.encode(
        {"timestamp": _now(), "response_time_ms": _elapsed_ms(),
         "trace_id": trace_id_var.get()}
    ).encode()
    body = b"".join((b'{"success":true,"data":', *data, b",", tail[1:]))
    return Answer(
        body,
        status=status,
        headers=dict(headers or {}),
        content_type="application/json",
    )


def error_body(error: AgentOSError) -> dict[str, Any]:
    """The error envelope's body for ``error``."""
    return {
        "success": False,
        "error": error.message,
        "error_code": error.error_code,
        "details": error.details,
        "timestamp": _now(),
        "response_time_ms": _elapsed_ms(),
        "trace_id": trace_id_var.get(),
    }


def fail(error: AgentOSError) -> HTTPResponse:
    """An error envelope for ``error``, with its status and headers."""
    return _json(error_body(error), error.status, error.headers)


def _json(body: Any, status: int, headers: dict[str, str] | None) -> HTTPResponse:
    # Encoded as Sanic's ``json`` would (ujson where installed), in an Answer.
    return Answer(
        json_dumps(body, default=str),
        status=status,
        headers=headers,
        content_type="application/json",
    )


@dataclass(frozen=True)
class Page:
    """One page of a list: which page, how big, and how many in all."""

    page: int
    per_page: int
    total: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def total_pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def as_dict(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
            "total_pages": self.total_pages,
            "has_next": self.page < self.total_pages,
            "has_prev": self.page > 1,
        }


def page_params(
    args: Mapping[str, Sequence[str]], *, default_per_page: int = DEFAULT_PER_PAGE
) -> tuple[int, int]:
    """Read ``page`` and ``per_page`` from query arguments, bounded and checked.

    ``agentos.http.request.page_parameters`` documents these same bounds.
    """
    page = _positive_int(args, "page", 1, upper=MAX_PAGE)
    per_page = _positive_int(args, "per_page", default_per_page, upper=MAX_PER_PAGE)
    return page, per_page


def first_value(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    """The first value of query argument ``name``, or ``None``.

    Sanic's ``request.args`` is a dict of lists whose ``get`` already returns
    the first value (a ``str``); reading through ``dict.get`` gives the list
    on it and on a plain mapping alike.
    """
    values = dict.get(args, name) if isinstance(args, dict) else args.get(name)
    return values[0] if values else None


def _positive_int(
    args: Mapping[str, Sequence[str]], name: str, default: int, *, upper: int
) -> int:
    raw = first_value(args, name)
    if raw is None:
        return default
    # The length is checked first: int() refuses (ValueError) past 4,300 digits.
    well_formed = raw.isascii() and raw.isdigit() and len(raw) <= len(str(upper))
    if not well_formed or not 1 <= int(raw) <= upper:
        raise BadRequest(
            f"'{name}' must be a whole number from 1 to {upper}.",
            details=[{"field": name, "value": raw[:100], "allowed": f"1..{upper}"}],
        )
    return int(raw)
