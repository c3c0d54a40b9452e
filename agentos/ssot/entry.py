"""The stored form of the SSOT document, and answers cut from it without parsing.

A document is stored as one byte string: a short ASCII header line, then
the document's ``data`` as JSON::

    ssot1 <etag> <generated_at_ms> dashboard:1:812:1733312345120 queue:...\\n
    {"dashboard":{...},"queue":{...},...,"meta":{...}}

Each ``name:start:end:as_of_ms`` field gives where a section's value lies
inside the JSON and when that value was collected (older than the document
when the section is stale). With those spans a cached document answers a
full read by splicing its bytes into the envelope, and a ``?sections=`` read
by joining the wanted spans; neither parses nor re-encodes the document.

Everything here is free of I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAGIC = b"ssot1"


@dataclass(frozen=True)
class Span:
    """Where one section's value lies in the data, and when it was collected."""

    name: str
    start: int
    end: int
    as_of_ms: int


@dataclass(frozen=True)
class Entry:
    """A document ready to answer with: its data bytes and what describes them."""

    etag: str
    generated_at_ms: int
    spans: tuple[Span, ...]
    data: memoryview

    def section(self, name: str) -> memoryview | None:
        """The serialized value of section ``name``, or ``None`` if absent."""
        for span in self.spans:
            if span.name == name:
                return self.data[span.start : span.end]
        return None

    def as_of_ms(self, name: str) -> int | None:
        """When the stored value of section ``name`` was collected."""
        return next((s.as_of_ms for s in self.spans if s.name == name), None)


def build(sections: Sequence[tuple[str, bytes, int]], generated_at_ms: int) -> Entry:
    """Join serialized sections (name, JSON bytes, as_of_ms) into one entry."""
    parts: list[bytes] = [b"{"]
    spans: list[Span] = []
    offset = 1
    for index, (name, value, as_of_ms) in enumerate(sections):
        key = (b"," if index else b"") + json.dumps(name).encode() + b":"
        parts += [key, value]
        offset += len(key)
        spans.append(Span(name, offset, offset + len(value), as_of_ms))
        offset += len(value)
    parts.append(b"}")

    data = b"".join(parts)
    return Entry(etag_of(data), generated_at_ms, tuple(spans), memoryview(data))


def etag_of(data: bytes | memoryview) -> str:
    """A strong entity tag for exactly these bytes."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def pack(entry: Entry) -> bytes:
    """The byte string to store: header line, newline, data."""
    spans = " ".join(f"{s.name}:{s.start}:{s.end}:{s.as_of_ms}" for s in entry.spans)
    header = f"{entry.etag} {entry.generated_at_ms} {spans}".encode()
    return b"".join((MAGIC, b" ", header, b"\n", entry.data))


def unpack(raw: bytes) -> Entry | None:
    """The entry stored in ``raw``, or ``None`` if it is not one (a stale format)."""
    newline = raw.find(b"\n")
    if newline < 0 or not raw.startswith(MAGIC + b" "):
        return None
    try:
        fields = raw[len(MAGIC) + 1 : newline].decode("ascii").split(" ")
        spans = tuple(_span(field) for field in fields[2:])
        generated_at_ms = int(fields[1])
    except (UnicodeDecodeError, ValueError, IndexError):
        return None
    return Entry(fields[0], generated_at_ms, spans, memoryview(raw)[newline + 1 :])


def _span(field: str) -> Span:
    name, start, end, as_of_ms = field.rsplit(":", 3)
    return Span(name, int(start), int(end), int(as_of_ms))


def subset(entry: Entry, names: Iterable[str]) -> tuple[list[bytes | memoryview], str]:
    """The data of only the sections ``names`` (in document order), and its tag.

    Returns the parts to join (no copy of the section bytes is made) and an
    entity tag derived from the whole document's, so that it changes with it.
    """
    wanted = set(names)
    parts: list[bytes | memoryview] = [b"{"]
    for span in entry.spans:
        if span.name not in wanted:
            continue
        if len(parts) > 1:
            parts.append(b",")
        key = json.dumps(span.name).encode() + b":"
        parts += [key, entry.data[span.start : span.end]]
    parts.append(b"}")

    suffix = hashlib.blake2b(",".join(sorted(wanted)).encode(), digest_size=4)
    return parts, f"{entry.etag}-{suffix.hexdigest()}"


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag == etag:
            return True
    return False
