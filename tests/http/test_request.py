"""The query-string and path readers of ``agentos.http.request``, without a server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum

import pytest
from sanic.request import RequestParameters

from agentos.errors import BadRequest
from agentos.http.envelope import MAX_PAGE, MAX_PER_PAGE
from agentos.http.request import (
    Args,
    bounded_int,
    choice_parameter,
    int_parameter,
    page_parameters,
    path_uuid,
    query_int,
    query_text,
    query_time,
)


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param("7", 7, id="plain"),
    pytest.param(" 7 ", 7, id="spaces-around"),
    pytest.param("-3", -3, id="negative-in-range"),
    pytest.param("010", 10, id="leading-zero"),
])
def test_bounded_int_reads_whole_numbers(raw: str, expected: int) -> None:
    """ASCII digits with an optional minus sign read as that number."""

    assert bounded_int(raw, "n", low=-5, high=100) == expected


@pytest.mark.parametrize("raw", [
    pytest.param("²", id="superscript-two"),
    pytest.param("-²", id="minus-superscript"),
    pytest.param("٣", id="arabic-indic-three"),
    pytest.param("1.5", id="fraction"),
    pytest.param("+5", id="plus-sign"),
    pytest.param("", id="empty"),
    pytest.param("-", id="minus-alone"),
    pytest.param("abc", id="letters"),
    pytest.param("101", id="above"),
    pytest.param("-6", id="below"),
    pytest.param("9" * 13, id="thirteen-digits"),
])
def test_bounded_int_refuses_anything_else_with_a_400(raw: str) -> None:
    """Each malformed or out-of-range value is a 400 naming the argument."""

    with pytest.raises(BadRequest) as caught:
        bounded_int(raw, "limit", low=-5, high=100)

    assert "'limit' must be a whole number from -5 to 100" in caught.value.message
    assert caught.value.details[0]["field"] == "limit"


def sanic_args(query: str) -> RequestParameters:
    """Query arguments as Sanic hands them to a handler."""
    parsed = RequestParameters()
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        parsed.setdefault(name, []).append(value)
    return parsed


@pytest.mark.parametrize("wrap", [
    pytest.param(sanic_args, id="request.args"),
    pytest.param(lambda q: dict(sanic_args(q)), id="query_args"),
])
def test_readers_take_the_first_value_from_either_mapping(
    wrap: Callable[[str], Args],
) -> None:
    """request.args (whose get gives a str) and a plain dict of lists read alike."""
    args = wrap("limit=42&limit=7&name=alpha&name=beta")

    assert query_int(args, "limit", 1, low=1, high=100) == 42
    assert query_text(args, "name", max_length=10) == "alpha"


def test_absent_arguments_give_their_defaults() -> None:
    """A missing number is its default; missing or empty text is None."""
    args = sanic_args("agent_type=")

    assert query_int(args, "limit", 20, low=1, high=100) == 20
    assert query_int(args, "window", None, low=1, high=100) is None
    assert query_text(args, "agent_type") is None
    assert query_time(args, "since") is None


def test_text_over_its_limit_is_a_400_with_its_length() -> None:
    """Too long a value is refused, and the details say how long it was."""
    args = sanic_args("agent_type=" + "t" * 65)

    with pytest.raises(BadRequest) as caught:
        query_text(args, "agent_type", max_length=64)

    assert caught.value.details == [{"field": "agent_type", "length": 65}]


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param("2026-01-31T09:00:00Z", datetime(2026, 1, 31, 9, tzinfo=UTC),
                 id="zulu"),
    pytest.param("2026-01-31T09:00:00", datetime(2026, 1, 31, 9, tzinfo=UTC),
                 id="no-zone-is-utc"),
    pytest.param("2026-01-31T10:00:00+01:00",
                 datetime(2026, 1, 31, 10, tzinfo=timezone(timedelta(hours=1))),
                 id="offset-kept"),
])
def test_times_are_iso_8601_and_aware(raw: str, expected: datetime) -> None:
    """A time reads as an aware datetime; one without a zone is UTC."""

    moment = query_time(sanic_args(f"since={raw}"), "since")

    assert moment == expected and moment is not None and moment.tzinfo is not None


@pytest.mark.parametrize("raw", ["yesterday", "", "2026-13-01", "²"])
def test_a_bad_time_is_a_400_naming_the_argument(raw: str) -> None:
    """Anything fromisoformat refuses is a 400, never a 500."""

    with pytest.raises(BadRequest, match="'until' must be an ISO 8601 time"):
        query_time(sanic_args(f"until={raw}"), "until")


def test_path_uuid_answers_the_canonical_form_or_a_400() -> None:
    """Upper case and braces are accepted and normalized; other text is refused."""
    upper = "{3F2C0B8E-5D0A-4C1E-9A57-2B1F0C6D7E8A}"

    assert path_uuid(upper, "upload_id") == "3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a"
    with pytest.raises(BadRequest, match="'upload_id' must be a UUID"):
        path_uuid("../etc", "upload_id")


def test_an_int_parameter_documents_its_bounds_and_default() -> None:
    """The schema carries minimum, maximum and default; no default, no key."""

    with_default = int_parameter("days", low=1, high=90, default=7)
    in_path = int_parameter("limit", low=1, high=100, location="path")

    assert with_default["schema"].serialize() == {
        "type": "integer", "format": "int32", "minimum": 1, "maximum": 90, "default": 7,
    }
    assert with_default["required"] is False
    assert "default" not in in_path["schema"].serialize()
    assert in_path["required"] is True


def test_a_choice_parameter_lists_enum_values_as_text() -> None:
    """A StrEnum's values, not its member names, become the schema's enum."""

    class Colour(StrEnum):
        RED = "red"
        BLUE = "blue"

    schema = choice_parameter("colour", Colour, default="red")["schema"].serialize()

    assert schema == {"type": "string", "enum": ["red", "blue"], "default": "red"}


def test_page_parameters_carry_the_bounds_page_params_enforces() -> None:
    """page runs to MAX_PAGE and per_page to MAX_PER_PAGE, both from 1."""

    parameters = page_parameters(default_per_page=50)

    page, per_page = (parameter["schema"].serialize() for parameter in parameters)

    assert (page["minimum"], page["maximum"], page["default"]) == (1, MAX_PAGE, 1)
    assert (per_page["minimum"], per_page["maximum"]) == (1, MAX_PER_PAGE)
    assert per_page["default"] == 50
