"""The stored byte form of the document, and answers cut from it unparsed."""

from __future__ import annotations

import json

import pytest

from agentos.ssot.entry import build, etag_of, matches, pack, subset, unpack

SECTIONS = [
    ("dashboard", b'{"jobs":{"total":3}}', 1_000),
    ("queue", b'{"paused":false,"note":"a \\"quoted\\" word"}', 2_000),
    ("meta", b'{"complete":true}', 3_000),
]


def test_built_data_is_the_sections_as_one_json_object() -> None:
    """Joining serialized sections yields the JSON object of all of them."""

    entry = build(SECTIONS, generated_at_ms=5_000)

    assert json.loads(bytes(entry.data)) == {
        "dashboard": {"jobs": {"total": 3}},
        "queue": {"paused": False, "note": 'a "quoted" word'},
        "meta": {"complete": True},
    }
    assert entry.etag == etag_of(entry.data)


def test_spans_point_at_each_sections_bytes() -> None:
    """Each span cuts exactly its section's serialized value out of the data."""

    entry = build(SECTIONS, generated_at_ms=5_000)

    for name, value, as_of_ms in SECTIONS:
        assert bytes(entry.section(name) or b"") == value
        assert entry.as_of_ms(name) == as_of_ms
    assert entry.section("logs") is None


def test_packed_entry_unpacks_to_the_same_bytes_and_description() -> None:
    """pack then unpack keeps the data byte for byte, with tag, time and spans."""
    entry = build(SECTIONS, generated_at_ms=5_000)

    again = unpack(pack(entry))

    assert again is not None
    assert bytes(again.data) == bytes(entry.data)
    assert (again.etag, again.generated_at_ms, again.spans) == (
        entry.etag, entry.generated_at_ms, entry.spans,
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b'{"dashboard":{}}', id="plain-json-of-an-older-format"),
        pytest.param(b"ssot1 tag notanumber\n{}", id="bad-time"),
        pytest.param(b"ssot1 tag 5 dashboard:x:2:1\n{}", id="bad-span"),
        pytest.param(b"ssot1 tag 5", id="no-newline"),
    ],
)
def test_unpack_refuses_what_is_not_an_entry(raw: bytes) -> None:
    """A value that is not a stored entry unpacks to None, never raises."""

    assert unpack(raw) is None


def test_subset_keeps_only_the_named_sections_in_document_order() -> None:
    """A subset joins the wanted spans into valid JSON with a tag of its own."""
    entry = build(SECTIONS, generated_at_ms=5_000)

    parts, etag = subset(entry, ["meta", "dashboard"])

    assert json.loads(b"".join(parts)) == {
        "dashboard": {"jobs": {"total": 3}},
        "meta": {"complete": True},
    }
    assert etag.startswith(entry.etag + "-")
    assert etag != subset(entry, ["queue", "meta"])[1]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, False, id="absent"),
        pytest.param('"abc"', True, id="exact"),
        pytest.param('W/"abc"', True, id="weak"),
        pytest.param('"old", "abc"', True, id="in-a-list"),
        pytest.param("*", True, id="star"),
        pytest.param('"old"', False, id="stale-tag"),
        pytest.param('"abcd"', False, id="longer-tag"),
    ],
)
def test_if_none_match_is_compared_weakly(header: str | None, expected: bool) -> None:
    """If-None-Match matches the exact tag, its weak form, a list or a star."""

    assert matches(header, "abc") is expected
