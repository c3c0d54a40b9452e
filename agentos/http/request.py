"""What a user-API route reads from a request besides its JSON body.

``caller`` authenticates the request, checks that the caller's roles allow
the route at all (403 otherwise) and builds the ``CallContext`` the
services take, with ``own_only`` set for a caller who may touch only what
it owns.

The readers take the query string (``request.args`` or ``query_args``,
either works) or a path segment and refuse anything malformed or out of
bounds with a 400 that names the argument, so that ``/recent/-1``,
``?limit=abc`` or ``?limit=²`` never reaches a service or a database:

==================  ===========================================================
``bounded_int``     a whole number in ``low..high``: ASCII digits and an
                    optional ``-``, nothing else (``str.isdigit`` alone would
                    let "²" through to ``int()`` and a 500)
``query_int``       ``bounded_int`` of a query argument, or its default
``query_text``      text of at most ``max_length`` characters; an empty value
                    counts as not given
``query_time``      an ISO 8601 time, taken as UTC when it names no zone
``path_uuid``       a UUID, returned in canonical form
==================  ===========================================================

Only an argument's first value counts.

For the OpenAPI document, ``int_parameter`` describes a whole-number
argument with the ``minimum``, ``maximum`` and ``default`` its reader
enforces, ``choice_parameter`` one that takes a fixed set of values (an
``enum``), ``list_parameter`` one that lists values, ``uuid_parameter``
one that ``path_uuid`` reads (``format: uuid``), ``page_parameters`` the
two arguments of ``page_params`` and ``query_parameter`` any other query
argument. Each is built from the constants the route checks against, so a
bound is written once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, overload

from sanic import Request
from sanic_ext.extensions.openapi.definitions import Parameter
from sanic_ext.extensions.openapi.types import Array, Integer, Schema, String

from agentos.auth.access import READ_ALL, require_any
from agentos.auth.tokens import verify_request
from agentos.errors import BadRequest
from agentos.http.envelope import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, first_value
from agentos.logs import trace_id_var
from agentos.services.base import CallContext

Args = Mapping[str, Sequence[str]]
"""Query arguments: name -> every value given, in order."""

MAX_DIGITS = 12
"""Longest number read, so that ``int()`` never works on a huge string."""


async def caller(
    request: Request,
    allowed: frozenset[str],
    doing: str,
    *,
    sees_all: frozenset[str] = READ_ALL,
) -> CallContext:
    """The context of an authenticated caller whose roles include ``allowed``.

    ``own_only`` is set unless the caller holds one of ``sees_all``; ``doing``
    completes the 403 message ("... may not <doing>").
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
    code that wants every value (``page_params``, the job filters) takes this.
    """
    return {name: list(values) for name, values in request.args.items()}


def bounded_int(raw: str, name: str, *, low: int, high: int) -> int:
    """``raw`` as a whole number from ``low`` to ``high``, or a 400."""
    text = raw.strip()
    digits = text.removeprefix("-")
    well_formed = digits.isascii() and digits.isdigit() and len(digits) <= MAX_DIGITS
    if not well_formed or not low <= int(text) <= high:
        raise BadRequest(
            f"'{name}' must be a whole number from {low} to {high}.",
            details=[{"field": name, "value": raw[:100], "allowed": f"{low}..{high}"}],
        )
    return int(text)


@overload
def query_int(args: Args, name: str, default: int, *, low: int, high: int) -> int: ...


@overload
def query_int(
    args: Args, name: str, default: None, *, low: int, high: int
) -> int | None: ...


def query_int(
    args: Args, name: str, default: int | None, *, low: int, high: int
) -> int | None:
    """The query argument ``name`` as a whole number in ``low..high``.

    ``default`` when the argument is absent.
    """
    raw = first_value(args, name)
    if raw is None:
        return default
    return bounded_int(raw, name, low=low, high=high)


def query_text(args: Args, name: str, *, max_length: int = 64) -> str | None:
    """The query argument ``name`` if given, non-empty and not too long."""
    raw = first_value(args, name)
    if not raw:
        return None
    if len(raw) > max_length:
        raise BadRequest(
            f"'{name}' is at most {max_length} characters.",
            details=[{"field": name, "length": len(raw)}],
        )
    return raw


def query_time(args: Args, name: str) -> datetime | None:
    """The ISO 8601 time in query argument ``name`` (UTC when it names no zone)."""
    raw = first_value(args, name)
    if raw is None:
        return None

    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"'{name}' must be an ISO 8601 time such as 2026-01-31T09:00:00Z.",
            details=[{"field": name, "value": text[:100]}],
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def path_uuid(value: str, name: str) -> str:
    """A path segment that must be a UUID, in canonical form, or a 400."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadRequest(
            f"'{name}' must be a UUID.",
            details=[{"field": name, "value": value[:100]}],
        ) from None


def query_parameter(name: str, schema: type, description: str) -> dict[str, Any]:
    """An optional query argument as ``openapi.definition(parameter=...)`` takes it."""
    return _parameter(name, schema, "query", False, description)


def int_parameter(
    name: str,
    *,
    low: int,
    high: int,
    default: int | None = None,
    location: str = "query",
    required: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """A whole-number argument, documented with its bounds and default.

    Pass the constants the route gives ``query_int`` or ``bounded_int``:
    generated clients and fuzzers read the bounds from the schema, so the
    document and the check must not be able to tell different numbers.
    """
    bounds = {"minimum": low, "maximum": high}
    schema = Integer(**bounds, **_given(default=default))  # type: ignore[no-untyped-call]
    return _parameter(name, schema, location, required, description)


def choice_parameter(
    name: str,
    choices: Iterable[str],
    *,
    default: str | None = None,
    location: str = "query",
    required: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """An argument that takes one of ``choices``, documented as an ``enum``."""
    listed = [str(choice) for choice in choices]
    schema = String(enum=listed, **_given(default=default))  # type: ignore[no-untyped-call]
    return _parameter(name, schema, location, required, description)


def list_parameter(
    name: str,
    *,
    max_items: int,
    choices: Iterable[str] | None = None,
    max_length: int | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A query argument listing values, repeated or comma-separated.

    Documented as an array of strings, each one of ``choices`` (an ``enum``)
    or at most ``max_length`` characters: OpenAPI's default style for a query
    argument (``form``, exploded) sends it as ``?status=queued&status=running``,
    which the route takes as it takes ``?status=queued,running``. ``max_items``
    is how many values the route takes in all.
    """
    listed = None if choices is None else [str(choice) for choice in choices]
    items = String(**_given(enum=listed, maxLength=max_length))  # type: ignore[no-untyped-call]
    schema = Array(items, maxItems=max_items)
    return _parameter(name, schema, "query", False, description)


def uuid_parameter(
    name: str,
    *,
    location: str = "path",
    required: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """An argument the route reads with ``path_uuid``, documented as a UUID."""
    schema = String(format="uuid")  # type: ignore[no-untyped-call]
    return _parameter(name, schema, location, required, description)


def _parameter(
    name: str,
    schema: Schema | type,
    location: str,
    required: bool,
    description: str | None,
) -> dict[str, Any]:
    # OpenAPI requires `required: true` on every path argument.
    return {"name": name, "schema": schema, "location": location,
            "required": required or location == "path",
            **_given(description=description)}


def _given(**values: Any) -> dict[str, Any]:
    # sanic-ext writes a field passed as None as null, so such fields stay out.
    return {key: value for key, value in values.items() if value is not None}


ParameterSpec = dict[str, Any] | Parameter | str
"""One entry of ``openapi.definition(parameter=[...])``."""


def page_parameters(*, default_per_page: int = DEFAULT_PER_PAGE) -> list[ParameterSpec]:
    """``page`` and ``per_page`` with the bounds ``page_params`` enforces."""
    return [
        int_parameter("page", low=1, high=MAX_PAGE, default=1,
                      description="Page number, the first is 1."),
        int_parameter("per_page", low=1, high=MAX_PER_PAGE, default=default_per_page,
                      description="Items per page."),
    ]


PAGE_PARAMETERS = page_parameters()
"""The two arguments of a paginated list that shows the default page size."""
