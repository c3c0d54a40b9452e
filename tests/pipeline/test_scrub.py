"""Scrubbing what audit records keep: PII fields, secrets, e-mails, tokens, cards."""

from __future__ import annotations

from typing import Any

import pytest

from agentos.pipeline.scrub import (
    CARD_MASK,
    EMAIL_MASK,
    PII_MASK,
    SECRET_MASK,
    TOKEN_MASK,
    is_secret_key,
    luhn_valid,
    pii_pointers,
    scrub,
    scrub_text,
)

JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("password", id="password"),
        pytest.param("new_password", id="suffix-password"),
        pytest.param("clientSecret", id="camel-secret"),
        pytest.param("API-Key", id="dashed-api-key"),
        pytest.param("api_key", id="api_key"),
        pytest.param("Authorization", id="authorization"),
        pytest.param("private_key", id="private_key"),
        pytest.param("refresh_token", id="refresh_token"),
        pytest.param("db_credentials", id="credentials"),
    ],
)
def test_keys_that_name_secrets_are_recognized(key: str) -> None:
    """Secret-naming keys are found whatever their case and separators."""

    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("job_id", id="job_id"),
        pytest.param("token_id", id="token_id-is-an-identifier"),
        pytest.param("priority", id="priority"),
        pytest.param("reason", id="reason"),
    ],
)
def test_ordinary_keys_are_not_taken_for_secrets(key: str) -> None:
    """Keys that merely identify things stay readable in the audit trail."""

    assert not is_secret_key(key)


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        pytest.param("4111111111111111", True, id="visa-test-number"),
        pytest.param("5500005555555559", True, id="mastercard-test-number"),
        pytest.param("4111111111111112", False, id="last-digit-off"),
        pytest.param("1234567890123", False, id="thirteen-digit-id"),
    ],
)
def test_luhn_checksum(digits: str, valid: bool) -> None:
    """The Luhn check accepts card numbers and rejects near misses."""

    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("mail ops@example.com now", f"mail {EMAIL_MASK} now", id="email"),
        pytest.param("Bearer abcdefghijklmnop", TOKEN_MASK, id="bearer"),
        pytest.param(f"token is {JWT}", f"token is {TOKEN_MASK}", id="jwt"),
        pytest.param(
            "card 4111 1111 1111 1111 ok", f"card {CARD_MASK} ok", id="spaced-card"
        ),
        pytest.param("4111-1111-1111-1111", CARD_MASK, id="dashed-card"),
        pytest.param("order 4111111111111112", "order 4111111111111112", id="not-luhn"),
        pytest.param("job 1733243210123456", "job 1733243210123456", id="timestamp"),
        pytest.param("nul\x00byte", "nul\ufffdbyte", id="nul-replaced"),
    ],
)
def test_text_is_masked_where_it_looks_sensitive(text: str, expected: str) -> None:
    """Sensitive pieces of free text are masked and the rest kept."""

    assert scrub_text(text) == expected


def test_payload_is_scrubbed_by_every_rule_at_every_depth() -> None:
    """PII fields, secret keys and sensitive values are masked in nested data."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "contact": {
                "type": "object",
                "properties": {"phone": {"type": "string", "x-pii": True}},
            },
            "people": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "x-pii": True}},
                },
            },
        },
    }
    payload = {
        "contact": {"phone": "+41 44 000 00 00", "city": "Zurich"},
        "people": [{"name": "Ada", "role": "ops"}, {"name": "Bob"}],
        "settings": {"smtp_password": "hunter2", "host": "mail.local"},
        "note": "ask ada@example.com",
        "priority": 3,
    }

    scrubbed = scrub(payload, pii_pointers(schema))

    assert scrubbed == {
        "contact": {"phone": PII_MASK, "city": "Zurich"},
        "people": [{"name": PII_MASK, "role": "ops"}, {"name": PII_MASK}],
        "settings": {"smtp_password": SECRET_MASK, "host": "mail.local"},
        "note": f"ask {EMAIL_MASK}",
        "priority": 3,
    }
    assert payload["settings"]["smtp_password"] == "hunter2", "input left untouched"


def test_pii_pointers_cover_nested_properties_and_array_items() -> None:
    """Every x-pii property is found, with '*' standing for array items."""
    schema = {
        "properties": {
            "email": {"type": "string", "x-pii": True},
            "a/b": {"type": "string", "x-pii": True},
            "list": {"items": {"properties": {"ssn": {"x-pii": True}}}},
            "plain": {"type": "string"},
        }
    }

    assert pii_pointers(schema) == {"/email", "/a~1b", "/list/*/ssn"}
