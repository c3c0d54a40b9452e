"""How stored rows are shown to callers: times as ISO 8601 text in UTC.

Rows come from both adapters with ``datetime`` values; the envelope would
print those with a space and ``+00:00``. Every resource the user API
answers with goes through ``public`` so that times read the same
everywhere: ``2026-12-03T09:05:00.123Z``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from agentos.errors import BadRequest

Row = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    """``value`` as ISO 8601 in UTC with milliseconds and ``Z``."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def public(row: Row) -> Row:
    """A copy of ``row`` with every ``datetime`` written as ISO text."""
    return {
        key: iso(value) if isinstance(value, datetime) else value
        for key, value in row.items()
    }


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def require_uuid(value: object, field: str) -> str:
    """``value`` as a canonical UUID string, or a 400 naming ``field``."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        shown = str(value)[:100]
        raise BadRequest(
            f"'{field}' must be a UUID such as 3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a.",
            details=[{"field": field, "value": shown}],
        ) from None


MAX_SUBJECT = 255
"""Longest token subject that may own jobs, clips and uploads (the column's limit)."""


def require_subject(value: str, field: str) -> str:
    """``value`` as an owner's subject, or a 400 naming ``field``.

    An owner is the token subject that created the row: a user's id or any
    other name ("ops-alice"), stored as given.
    """
    if 1 <= len(value) <= MAX_SUBJECT:
        return value
    raise BadRequest(
        f"'{field}' must be a token subject of 1 to {MAX_SUBJECT} characters.",
        details=[{"field": field, "length": len(value)}],
    )


def is_uuid(value: object) -> bool:
    """Whether ``value`` is text that names a UUID."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
