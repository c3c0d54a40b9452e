"""What a user-API route reads from a request besides its JSON body.

``caller`` authenticates the request, checks that the caller's roles allow
the route at all (403 otherwise) and builds the ``CallContext`` the
services take, with ``own_only`` set for a caller who may touch only what
it owns. The other helpers read numbers from the path and the query string
and refuse anything out of bounds with a 400 that names the value, so that
``/recent/-1`` or ``?limit=abc`` never reaches a service or a database.
``query_parameter`` describes such an argument for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sanic import Request
from sanic_ext.extensions.openapi.definitions import Parameter

from agentos.auth.access import require_any
from agentos.auth.tokens import verify_request
from agentos.errors import BadRequest
from agentos.logs import trace_id_var
from agentos.services.base import CallContext


async def caller(
    request: Request, *, allowed: frozenset[str], sees_all: frozenset[str], doing: str
) -> CallContext:
    """The context of an authenticated caller whose roles include ``allowed``.

    ``own_only`` is set unless the caller holds one of ``sees_all``.
    """
    principal = await verify_request(request)
    require_any(principal, allowed, doing)
    return CallContext(
        principal=principal,
        trace_id=trace_id_var.get(),
        client_ip=request.remote_addr or request.ip,
        own_only=sees_all.isdisjoint(principal.roles),
    )


def query_args(request: Request) -> dict[str, list[str]]:
    """The query string as name -> every value given, in order.

    Sanic's ``request.args.get`` answers the first value alone, as a string;
    the parsers here and ``page_params`` want every value as a list.
    """
    return {name: list(values) for name, values in request.args.items()}


def bounded_int(raw: str, name: str, *, low: int, high: int) -> int:
    """``raw`` as a whole number from ``low`` to ``high``, or a 400."""
    text = raw.strip()
    digits = text[1:] if text.startswith("-") else text
    well_formed = digits.isascii() and digits.isdigit() and len(digits) <= 12
    if not well_formed or not low <= int(text) <= high:
        raise BadRequest(
            f"'{name}' must be a whole number from {low} to {high}.",
            details=[{"field": name, "value": raw[:100], "allowed": f"{low}..{high}"}],
        )
    return int(text)


def int_arg(
    args: Mapping[str, Sequence[str]], name: str, default: int, *, low: int, high: int
) -> int:
    """The query argument ``name`` as a bounded whole number, or ``default``."""
    values = args.get(name)
    if not values:
        return default
    return bounded_int(values[0], name, low=low, high=high)


def str_arg(
    args: Mapping[str, Sequence[str]], name: str, *, max_length: int
) -> str | None:
    """The query argument ``name`` if given and not too long, else ``None``."""
    values = args.get(name)
    if not values or not values[0]:
        return None
    if len(values[0]) > max_length:
        raise BadRequest(
            f"'{name}' is at most {max_length} characters.",
            details=[{"field": name, "length": len(values[0])}],
        )
    return values[0]


def query_parameter(name: str, schema: type, description: str) -> dict[str, Any]:
    """An optional query argument as ``openapi.definition(parameter=...)`` takes it."""
    return {"name": name, "schema": schema, "location": "query",
            "required": False, "description": description}


ParameterSpec = dict[str, Any] | Parameter | str
"""One entry of ``openapi.definition(parameter=[...])``."""

PAGE_PARAMETERS: list[ParameterSpec] = [
    query_parameter("page", int, "Page number, from 1 (default 1)."),
    query_parameter("per_page", int, "Items per page, 1 to 100 (default 20)."),
]
"""The two arguments of every paginated list."""
