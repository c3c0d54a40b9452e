"""The payload subset: closing objects, confirm, PII paths, own values."""

from __future__ import annotations

from agentos.registry.schema import check_own_values, close, pii_paths, with_confirm

PAYLOAD = {
    "type": "object",
    "properties": {
        "contact": {
            "type": "object",
            "properties": {"phone": {"type": "string", "x-pii": True}},
        },
        "emails": {"type": "array", "items": {"type": "string", "x-pii": True}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "open": {"type": "object", "additionalProperties": True},
    },
}


def test_close_refuses_unknown_properties_unless_told_otherwise() -> None:
    """Every object without its own say gets ``additionalProperties: false``."""
    closed = close(PAYLOAD)

    assert closed["additionalProperties"] is False
    assert closed["properties"]["contact"]["additionalProperties"] is False
    assert closed["properties"]["open"]["additionalProperties"] is True
    assert "additionalProperties" not in PAYLOAD  # the input is left alone


def test_with_confirm_adds_a_required_true_property() -> None:
    """``confirm`` is required and can only be true."""
    confirmed = with_confirm({"type": "object", "required": ["a"], "properties": {}})

    assert confirmed["required"] == ["a", "confirm"]
    assert confirmed["properties"]["confirm"]["const"] is True


def test_pii_paths_point_into_payloads_not_schemas() -> None:
    """Nested properties by name, array items and map values as ``*``."""
    assert pii_paths(PAYLOAD) == ("/contact/phone", "/emails/*")


def test_own_values_that_fail_their_schema_are_reported() -> None:
    """Bad defaults and examples, and required names that are not properties."""
    schema = {
        "type": "object",
        "required": ["ghost"],
        "properties": {
            "n": {"type": "integer", "minimum": 1, "default": 0, "examples": [2, "x"]},
        },
    }

    found = dict(check_own_values(schema))

    assert set(found) == {
        "/required",
        "/properties/n/default",
        "/properties/n/examples/1",
    }
