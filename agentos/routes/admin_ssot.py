"""``GET /api/admin/ssot``: the admin read model, served from its cache.

Who may read: a caller holding one of the roles admin, operator,
supervisor or readonly (403 ``FORBIDDEN`` otherwise). Before the handler
runs, the gate's request middlewares (``agentos.pipeline.gate``) hold every
admin read to the admin allowlist of ``policies/access.yaml`` (403
``IP_NOT_ALLOWED``) and spend the ``admin_read`` rate tier (429
``RATE_LIMITED``).

The handler then answers with the cached bytes spliced into the envelope
(see ``agentos.ssot``). Headers tell the reader what it got: ``X-Cache``
(``hit`` or ``miss``), ``Age`` (seconds since the document was collected),
``ETag``; a matching ``If-None-Match`` gets 304.

``bench_bp`` holds a bare endpoint that returns a byte string as large as
the document (after authenticating the caller, if asked); the benchmark
``bench/ssot_bench.py`` compares the two. It is registered
only when the ``ssot.bench_endpoint`` setting is on, and never documented.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos import metrics
from agentos.auth.access import READ_ALL, require_any
from agentos.auth.tokens import verify_request
from agentos.errors import BadRequest
from agentos.http.answer import Answer, raw_answer
from agentos.http.docs import envelope, responses
from agentos.http.envelope import ok_raw
from agentos.ssot.entry import matches, subset
from agentos.ssot.model import Reading
from agentos.ssot.schema import SSOTDocument

bp = Blueprint("admin_ssot")
bench_bp = Blueprint("ssot_bench")

MAX_BENCH_BYTES = 10_000_000

_DOCUMENT = envelope(SSOTDocument)


@bp.get("/api/admin/ssot")
@openapi.definition(
    summary="The admin SSOT document, cache first",
    description=(
        "One document for the admin dashboard: `dashboard`, `agents_workers`, "
        "`analytics`, `queue`, `logs` and `meta`. Served from a cache kept warm "
        "in the background; `X-Cache` says hit or miss, `Age` how old the "
        "document is, and `ETag` with `If-None-Match` gives 304 when nothing "
        "changed. A section that could not be collected is marked stale or "
        "failed in `meta.sections`, never turned into an error. "
        "Roles: admin, operator, supervisor, readonly."
    ),
    tag="admin",
    response=responses(_DOCUMENT, 400, 403, 429, 503),
)
@openapi.parameter(
    "sections",
    str,
    "query",
    description="Comma-separated section names to return (`meta` always comes).",
)
async def read_ssot(request: Request) -> HTTPResponse:
    """The SSOT document, or the asked sections of it."""
    started = time.perf_counter()
    principal = await verify_request(request)
    require_any(principal, READ_ALL, "read the admin SSOT document")

    model = request.app.ctx.ssot
    wanted = requested_sections(request.args.getlist("sections"), model.section_names)
    reading: Reading = await model.read()
    response = _answer(request, reading, wanted)

    metrics.record_ssot(reading.hit, time.perf_counter() - started)
    return response


def requested_sections(values: Sequence[str], known: Sequence[str]) -> list[str] | None:
    """The section names a ``sections`` query asks for; ``None`` for all.

    Names are comma-separated and may repeat the parameter; ``meta`` is
    always added. An unknown name is a 400 that names it.
    """
    names = [name.strip() for value in values for name in value.split(",")]
    names = [name for name in names if name]
    if not names:
        return None
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BadRequest(
            f"Unknown section {', '.join(repr(n) for n in unknown)}; "
            f"choose from {', '.join(known)}.",
            details=[
                {"field": "sections", "value": name[:100], "allowed": list(known)}
                for name in unknown
            ],
        )
    return [*dict.fromkeys(names), "meta"]


def _answer(
    request: Request, reading: Reading, wanted: list[str] | None
) -> HTTPResponse:
    entry = reading.entry
    parts: list[bytes | memoryview]
    if wanted is None:
        parts, etag = [entry.data], entry.etag
    else:
        parts, etag = subset(entry, wanted)

    age = max(0, int(time.time() - entry.generated_at_ms / 1000))
    headers = {
        "ETag": f'"{etag}"',
        "X-Cache": "hit" if reading.hit else "miss",
        "Age": str(age),
        "Cache-Control": "private, no-cache",
    }
    if matches(request.headers.get("if-none-match"), etag):
        return Answer(status=304, headers=headers)
    return ok_raw(parts, headers=headers)


@bench_bp.get("/bench/ssot-bare")
@bench_bp.get("/api/admin/bench/ssot-bare", name="bare_behind_gate")
@openapi.exclude()
async def bare(request: Request) -> HTTPResponse:
    """A byte string of ``size`` bytes: the benchmark's baseline.

    With ``auth=1`` the caller is authenticated and held to the SSOT's roles
    first. Under ``/api/admin/`` the request also passes the admin read gate
    (allowlist and ``admin_read`` tier), so that the benchmark can tell the
    gate's cost from the cache's.
    """
    size = request.args.get("size", "0")
    if not size.isdigit() or int(size) > MAX_BENCH_BYTES:
        raise BadRequest(f"'size' must be a whole number up to {MAX_BENCH_BYTES}.")
    if request.args.get("auth") == "1":
        principal = await verify_request(request)
        require_any(principal, READ_ALL, "read the admin SSOT document")
    return raw_answer(b"x" * int(size), content_type="application/json")
