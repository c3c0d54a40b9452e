"""Which jobs a list shows and in what order: parsed from query arguments.

``JobQuery`` is plain data with no I/O. ``parse_query`` reads it from a
request's query arguments and refuses anything it does not understand with
a 400 that names the argument; ``JobQuery.where`` and ``order_by`` write the
SQL fragments. Column names in the SQL come from this module only, never
from the caller, so the fragments are safe to join into a statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from agentos.errors import BadRequest
from agentos.services.job_lifecycle import JobStatus, parse_status

SORTS = {
    "-created_at": "created_at DESC, id DESC",
    "created_at": "created_at ASC, id ASC",
    "-priority": "priority DESC, created_at ASC, id ASC",
    "priority": "priority ASC, created_at ASC, id ASC",
    "-finished_at": "finished_at DESC, id DESC",
    "finished_at": "finished_at ASC, id ASC",
    "-updated_at": "updated_at DESC, id DESC",
    "updated_at": "updated_at ASC, id ASC",
}
DEFAULT_SORT = "-created_at"
MAX_VALUES = 20
MAX_KIND_LENGTH = 64


@dataclass(frozen=True)
class JobQuery:
    """Filters and order of a list of jobs; empty filters match every job."""

    statuses: tuple[JobStatus, ...] = ()
    kinds: tuple[str, ...] = ()
    owner_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: str = DEFAULT_SORT

    def owned_by(self, owner_id: str | None) -> JobQuery:
        """The same query limited to ``owner_id`` (``None``: unchanged)."""
        return self if owner_id is None else replace(self, owner_id=owner_id)

    def where(self, first: int = 1) -> tuple[str, list[Any]]:
        """A ``WHERE`` clause (or ``""``) and its arguments, numbered from ``first``."""
        clauses: list[str] = []
        args: list[Any] = []

        def placeholder(value: Any) -> str:
            args.append(value)
            return f"${first + len(args) - 1}"

        if self.owner_id is not None:
            clauses.append(f"owner_id = {placeholder(self.owner_id)}")
        if self.statuses:
            names = ", ".join(placeholder(s.value) for s in self.statuses)
            clauses.append(f"status IN ({names})")
        if self.kinds:
            clauses.append(f"kind IN ({', '.join(placeholder(k) for k in self.kinds)})")
        if self.since is not None:
            clauses.append(f"created_at >= {placeholder(self.since)}")
        if self.until is not None:
            clauses.append(f"created_at < {placeholder(self.until)}")
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), args

    def order_by(self) -> str:
        """The ``ORDER BY`` clause of the chosen sort."""
        return f"ORDER BY {SORTS[self.sort]}"


def parse_query(args: Mapping[str, Sequence[str]]) -> JobQuery:
    """The ``JobQuery`` that ``status``, ``kind``, ``since``, ``until`` and
    ``sort`` ask for; each may be repeated or comma-separated where it is a list.
    """
    statuses = tuple(parse_status(raw) for raw in _values(args, "status"))
    kinds = tuple(_kind(raw) for raw in _values(args, "kind"))
    since = _time(args, "since")
    until = _time(args, "until")
    if since and until and since >= until:
        raise BadRequest(
            "'since' must be earlier than 'until'.",
            details=[{"field": "since"}, {"field": "until"}],
        )
    return JobQuery(
        statuses=tuple(dict.fromkeys(statuses)),
        kinds=tuple(dict.fromkeys(kinds)),
        since=since,
        until=until,
        sort=_sort(args),
    )


def _values(args: Mapping[str, Sequence[str]], name: str) -> list[str]:
    values = [
        part.strip() for raw in args.get(name, ()) for part in raw.split(",")
    ]
    values = [value for value in values if value]
    if len(values) > MAX_VALUES:
        raise BadRequest(
            f"'{name}' may list at most {MAX_VALUES} values.",
            details=[{"field": name, "count": len(values)}],
        )
    return values


def _kind(raw: str) -> str:
    if len(raw) > MAX_KIND_LENGTH:
        raise BadRequest(
            f"A 'kind' is at most {MAX_KIND_LENGTH} characters.",
            details=[{"field": "kind", "value": raw[:100]}],
        )
    return raw


def _time(args: Mapping[str, Sequence[str]], name: str) -> datetime | None:
    values = args.get(name)
    if not values:
        return None
    raw = values[0].strip()
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"'{name}' must be an ISO 8601 date or time, such as "
            "2026-12-01 or 2026-12-01T08:00:00Z.",
            details=[{"field": name, "value": raw[:100]}],
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sort(args: Mapping[str, Sequence[str]]) -> str:
    values = args.get("sort")
    if not values:
        return DEFAULT_SORT
    if values[0] not in SORTS:
        allowed = ", ".join(SORTS)
        raise BadRequest(
            f"'sort' must be one of: {allowed}.",
            details=[{"field": "sort", "value": values[0][:100], "allowed": allowed}],
        )
    return values[0]
