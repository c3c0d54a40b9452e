"""How user-API handlers show the rows they answer with.

``shown`` writes every ``datetime`` in a result as ISO 8601 text in UTC
(``2026-12-03T09:05:00.123Z``), however deep. Reading a request (the caller,
query arguments, path segments) lives in ``agentos.http.request``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


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
