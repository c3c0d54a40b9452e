"""Key scopes: one hash tag per subject and per address, never confusable."""

from __future__ import annotations

import pytest

from agentos.pipeline.scopes import (
    address_scope,
    safe_part,
    subject_scope,
    valid_subject,
)
from agentos.services.token_families import RevocationKeys


@pytest.mark.parametrize(
    ("subject", "valid"),
    [
        pytest.param("3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a", True, id="uuid"),
        pytest.param("ops@example.com", True, id="email"),
        pytest.param("service:backup", True, id="colon"),
        pytest.param("", False, id="empty"),
        pytest.param("a}b", False, id="brace"),
        pytest.param("two words", False, id="space"),
        pytest.param("tab\tin", False, id="control"),
        pytest.param("x" * 256, False, id="too-long"),
    ],
)
def test_only_subjects_that_keep_the_hash_tag_whole_are_valid(
    subject: str, valid: bool
) -> None:
    """Braces, spaces and control characters would break or shift the tag."""

    assert valid_subject(subject) is valid


def test_a_subjects_keys_share_the_slot_of_its_revocation_keys() -> None:
    """Lockout and rate-limit keys carry the same hash tag as auth:{subject}."""
    subject = "alice"

    scope = subject_scope(subject)
    revocation = RevocationKeys(subject, "jti").revoked_token

    assert scope == "u:{alice}"
    assert _tag(f"lockout:{scope}:locked") == _tag(revocation) == "alice"


def test_v4_and_v6_addresses_get_distinct_scopes() -> None:
    """An IPv6 address is spelled without colons and cannot meet an IPv4 one."""

    assert address_scope("192.0.2.1") == "ip:{192.0.2.1}"
    assert address_scope("2001:db8::1") == "ip:{2001-db8--1}"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("job.cancel:x", id="separator"),
        pytest.param("{other}", id="braces"),
        pytest.param("", id="empty"),
    ],
)
def test_unsafe_key_parts_become_digests(text: str) -> None:
    """Anything but plain text is replaced by a digest of it."""

    part = safe_part(text)

    assert part.startswith("~") and len(part) == 41
    assert safe_part("job.cancel") == "job.cancel"


def _tag(key: str) -> str:
    # The text between the first '{' and the next '}', as Redis Cluster reads it.
    start = key.index("{") + 1
    return key[start : key.index("}", start)]
