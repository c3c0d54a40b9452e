"""The response class: Sanic's header rule, kept at a lower cost."""

from __future__ import annotations

import pytest
from sanic.response import HTTPResponse

from agentos.errors import NotFound
from agentos.http.answer import Answer, raw_answer
from agentos.http.envelope import fail, ok, ok_raw


def _encoded(response: HTTPResponse) -> list[tuple[bytes, bytes]]:
    return list(response.processed_headers)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('"admin_read";q=500;w=60', id="plain"),
        pytest.param("zo\u00eb \u2603", id="non-ascii"),
        pytest.param("a\r\nSet-Cookie: stolen=1", id="crlf-injection"),
        pytest.param("nul\x00byte", id="nul"),
        pytest.param("\n\r\x00", id="only-forbidden"),
        pytest.param("", id="empty"),
    ],
)
def test_headers_are_encoded_exactly_as_sanic_encodes_them(value: str) -> None:
    """Every value, clean or not, becomes the bytes Sanic's own class writes."""
    headers = {"X-Value": value, "X-Other": "ok"}

    ours = Answer(b"{}", headers=headers, content_type="application/json")
    sanics = HTTPResponse(b"{}", headers=headers, content_type="application/json")

    assert _encoded(ours) == _encoded(sanics)


def test_a_header_cannot_smuggle_another_header() -> None:
    """Carriage returns, line feeds and NUL bytes are removed from the value."""
    answer = Answer(b"", headers={"X-Trace-Id": "abc\r\nX-Admin: yes\x00"})

    encoded = dict(_encoded(answer))

    assert encoded[b"X-Trace-Id"] == b"abcX-Admin: yes"
    assert b"X-Admin" not in encoded


def test_every_envelope_answers_with_the_project_class() -> None:
    """Success, error, pre-encoded and raw answers all take the cheaper path."""
    answers = [
        ok({"a": 1}),
        fail(NotFound("No such job.")),
        ok_raw([b"{}"]),
        raw_answer(b"x", content_type="text/plain"),
    ]

    assert all(type(answer) is Answer for answer in answers)
    assert answers[1].status == 404
    assert answers[3].content_type == "text/plain"
