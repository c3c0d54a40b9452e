"""The audit hash chain: how a record is hashed, linked and verified.

Every audit record carries ``prev_hash``, the hash of the record before it,
and ``hash``, the SHA-256 of its own canonical content (every column but
``hash``, ``prev_hash`` included). The first record links to ``GENESIS``.
Editing a stored record changes its content, so its hash no longer matches;
deleting or reordering records breaks a ``prev_hash`` link or the sequence.

Canonical content is JSON with sorted keys and no spaces, with times written
as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Values are normalized *before* they
are stored (``normalize``) so that what the database gives back hashes the
same: PostgreSQL's JSONB would read a float such as ``1e300`` back as an
integer and refuses NUL characters, so integral floats of 2**53 and more
become integers and NUL becomes U+FFFD.

Everything here is free of I/O: the writer (``agentos.pipeline.audit``)
calls ``link`` under its lock, and ``agentos audit verify`` feeds stored rows
to a ``Verifier`` one at a time.

Known shortcoming: the chain proves that no record was changed *relative to
its successors*. Someone with write access to the table who recomputes every
hash from the edited record to the head is caught only by comparing the head
with a copy kept elsewhere; the writer logs the head of each batch
(``audit.appended``) so that such a copy exists in the logs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""

CONTENT_FIELDS: tuple[str, ...] = (
    "seq",
    "ts",
    "actor",
    "roles",
    "action",
    "payload",
    "decision",
    "rule",
    "outcome",
    "status",
    "error_code",
    "trace_id",
    "client_ip",
    "user_agent",
    "idempotency_key",
    "duration_ms",
    "registry_version",
    "policy_version",
    "prev_hash",
)
"""The columns a record's hash covers: all of ``audit_records`` but ``hash``."""

_EXACT_FLOAT_LIMIT = 2.0**53

# One encoder for every record: json.dumps with these options would build a
# new one per call.
_CANONICAL_JSON = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=str,
)


def normalize(value: Any) -> Any:
    """A JSON value that reads back from JSONB exactly as it is returned."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if (
        isinstance(value, float)
        and value.is_integer()
        and abs(value) >= _EXACT_FLOAT_LIMIT
    ):
        return int(value)
    if isinstance(value, Mapping):
        return {normalize(str(key)): normalize(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    return value


def format_time(moment: datetime) -> str:
    """A time as the chain writes it: UTC with microseconds and a ``Z``."""
    utc = moment.astimezone(UTC)
    if utc.year < 1000:  # strftime does not pad such years; isoformat would
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # isoformat writes the same text for later years, a quarter faster; a
    # UTC time's offset is always "+00:00".
    return f"{utc.isoformat(timespec='microseconds')[:-6]}Z"


def canonical_text(record: Mapping[str, Any]) -> str:
    """A record's canonical content as text, before it is encoded to bytes."""
    content = {name: record.get(name) for name in CONTENT_FIELDS}
    ts = content["ts"]
    if isinstance(ts, datetime):
        content["ts"] = format_time(ts)
    return _CANONICAL_JSON.encode(content)


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash is computed over."""
    return canonical_text(record).encode()


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a record's canonical content, ``prev_hash`` included."""
    return hashlib.sha256(canonical(record)).hexdigest()


@dataclass(frozen=True)
class Head:
    """The last record of the chain: its sequence number and hash."""

    seq: int = 0
    hash: str = GENESIS


def link(head: Head, records: Sequence[dict[str, Any]]) -> Head:
    """Number and hash ``records`` in order after ``head``; return the new head.

    The records are changed in place: ``seq``, ``prev_hash`` and ``hash``
    are set on each.
    """
    return link_canonical(head, records)[0]


def link_canonical(
    head: Head, records: Sequence[dict[str, Any]]
) -> tuple[Head, list[str]]:
    """Link ``records`` as ``link`` does; return the new head and their content.

    The content is each record's ``canonical_text``, for a writer that
    stores it as it is instead of encoding the record once more.
    """
    seq, previous = head.seq, head.hash
    texts: list[str] = []
    for record in records:
        seq += 1
        record["seq"] = seq
        record["prev_hash"] = previous
        text = canonical_text(record)
        record["hash"] = previous = hashlib.sha256(text.encode()).hexdigest()
        texts.append(text)
    return Head(seq, previous), texts


@dataclass(frozen=True)
class Break:
    """The first record at which the chain does not hold, and why."""

    seq: int
    reason: str


class Verifier:
    """Checks stored records one at a time, in ascending ``seq`` order."""

    def __init__(self) -> None:
        self.head = Head()
        self.checked = 0

    def feed(self, row: Mapping[str, Any]) -> Break | None:
        """Check the next row; return the break it shows, if any."""
        seq = int(row["seq"])
        expected = self.head.seq + 1
        if seq != expected:
            return Break(expected, f"record {expected} is missing (found {seq} next)")
        if row.get("prev_hash") != self.head.hash:
            return Break(seq, "prev_hash does not match the previous record's hash")
        if row.get("hash") != record_hash(row):
            return Break(seq, "hash does not match the record's content")

        self.head = Head(seq, str(row["hash"]))
        self.checked += 1
        return None


def verify(rows: Iterable[Mapping[str, Any]]) -> Break | None:
    """The first break in ``rows`` (ascending ``seq``), or ``None``."""
    verifier = Verifier()
    for row in rows:
        found = verifier.feed(row)
        if found is not None:
            return found
    return None
