"""What user API handlers share: who calls, query arguments, how rows are shown.

``caller`` authenticates the request and checks that the caller's roles
include one of the roles a route allows; it returns the ``CallContext`` the
services take. ``query_int`` and ``query_time`` read bounded query arguments
with a 400 that names the argument. ``shown`` writes every ``datetime`` in a
result as ISO 8601 text in UTC (``2026-12-03T09:05:00.123Z``), however deep.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sanic import Request

from agentos.auth.access import READ_ALL
from agentos.errors import BadRequest
from agentos.http.envelope import first_value
from agentos.http.request import bounded_int
from agentos.http.request import caller as request_caller
from agentos.services.base import CallContext

Args = Mapping[str, Sequence[str]]


async def caller(request: Request, roles: frozenset[str], doing: str) -> CallContext:
    """Authenticate the request and require one of ``roles`` (403 otherwise).

    A caller without a read-everything role is limited to what it owns.
    """
    return await request_caller(request, allowed=roles, sees_all=READ_ALL, doing=doing)


def query_int(
    args: Args, name: str, default: int | None, low: int, high: int
) -> int | None:
    """The whole-number query argument ``name`` within ``low..high``."""
    raw = first_value(args, name)
    if raw is None:
        return default
    return bounded_int(raw, name, low=low, high=high)


def query_time(args: Args, name: str) -> datetime | None:
    """The ISO 8601 time in query argument ``name`` (UTC when it names no zone)."""
    raw = first_value(args, name)
    if raw is None:
        return None
    raw = raw.strip()
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"'{name}' must be an ISO 8601 time such as 2026-01-31T09:00:00Z.",
            details=[{"field": name, "value": raw[:100]}],
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def query_text(args: Args, name: str, *, max_length: int = 64) -> str | None:
    """The text of query argument ``name``, at most ``max_length`` characters."""
    raw = first_value(args, name)
    if raw is not None and len(raw) > max_length:
        raise BadRequest(f"'{name}' must be at most {max_length} characters.")
    return raw


def path_uuid(value: str, name: str) -> str:
    """A path segment that must be a UUID, in canonical form, or a 400."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadRequest(
            f"'{name}' must be a UUID.",
            details=[{"field": name, "value": value[:100]}],
        ) from None


def iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 in UTC with milliseconds and ``Z``."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def shown(value: Any) -> Any:
    """``value`` with every ``datetime`` in it written by ``iso``."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {key: shown(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [shown(item) for item in value]
    return value
