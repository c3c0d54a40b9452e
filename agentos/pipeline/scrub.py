"""Masking what an audit record must not keep: PII, secrets, tokens, cards.

An audit record keeps the payload of every call so that an operator can see
what was asked, but the audit trail is read by more people than the data it
describes, and it is append-only: a secret written there stays forever. So
the payload is scrubbed before it is recorded, by four rules:

1. a property the action spec marks ``x-pii: true`` is masked whole
   (``[pii]``), wherever the payload schema puts it;
2. a key that names a secret (``password``, ``client_secret``,
   ``api_key``, ``authorization``, ``private_key``, ``refresh_token``, ...)
   has its value masked whole (``[secret]``);
3. inside any string, e-mail addresses become ``[email]`` and bearer tokens
   or JSON web tokens become ``[token]``;
4. inside any string, a run of 13 to 19 digits (spaces or dashes allowed
   between them) that passes the Luhn check becomes ``[card]``; numbers
   that fail the check (ids, timestamps) stay readable.

Scrubbing is a plain function over JSON values, so it is tested without a
server. It never raises on odd input: a key that is not a string is kept,
NUL characters (which PostgreSQL's JSONB refuses) become U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

PII_MASK = "[pii]"
SECRET_MASK = "[secret]"
EMAIL_MASK = "[email]"
TOKEN_MASK = "[token]"
CARD_MASK = "[card]"

ITEMS = "*"
"""The pointer segment that stands for every item of an array."""

_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "apikey",
    "privatekey",
    "accesskey",
    "credential",
    "authorization",
    "cookie",
)
_SECRET_SUFFIXES = ("token", "pwd")

# Every repetition is bounded or anchored on a literal, so that scrubbing a
# long string takes time in proportion to its length (an unbounded ``[...]+@``
# would retry from every position of a megabyte without an ``@``).
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8}"
)
_BEARER = re.compile(r"\b(?:bearer|token)[ \t]{1,8}[A-Za-z0-9\-._~+/]{8,}=*", re.I)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ \-]?[0-9]){12,18}(?![0-9])")


def is_secret_key(key: str) -> bool:
    """Whether a payload key names a secret, whatever its case or separators."""
    folded = re.sub(r"[^a-z0-9]", "", key.lower())
    if any(word in folded for word in _SECRET_WORDS):
        return True
    return folded.endswith(_SECRET_SUFFIXES)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum of card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def scrub_text(text: str) -> str:
    """Mask e-mail addresses, bearer tokens, JWTs and card numbers in ``text``."""
    text = text.replace("\x00", "\ufffd")
    text = _JWT.sub(TOKEN_MASK, text)
    text = _BEARER.sub(TOKEN_MASK, text)
    text = _EMAIL.sub(EMAIL_MASK, text)
    return _DIGIT_RUN.sub(_mask_card, text)


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[^0-9]", "", match.group())
    return CARD_MASK if luhn_valid(digits) else match.group()


def scrub(value: Any, pii: Collection[str] = ()) -> Any:
    """A copy of the JSON value ``value`` with the masks applied.

    ``pii`` holds the JSON pointers of ``x-pii`` properties as
    ``pii_pointers`` computes them (``/contact/email``, ``/users/*/phone``).
    """
    return _scrub(value, "", frozenset(pii))


def _scrub(value: Any, pointer: str, pii: frozenset[str]) -> Any:
    if pointer in pii:
        return PII_MASK
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            key: _scrub_item(key, item, pointer, pii) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, f"{pointer}/{ITEMS}", pii) for item in value]
    return value


def _scrub_item(key: Any, item: Any, pointer: str, pii: frozenset[str]) -> Any:
    if not isinstance(key, str):
        return item
    if is_secret_key(key) and item is not None:
        return SECRET_MASK
    if f"{pointer}/{ITEMS}" in pii:
        return PII_MASK  # every value of a map whose values are PII
    return _scrub(item, f"{pointer}/{_escape(key)}", pii)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def pii_pointers(schema: Mapping[str, Any]) -> frozenset[str]:
    """The pointers of every property marked ``x-pii: true`` in a JSON Schema.

    Array items are ``*`` segments, so one pointer covers every item.
    """
    found: set[str] = set()
    _collect(schema, "", found)
    return frozenset(found)


def _collect(schema: Any, pointer: str, found: set[str]) -> None:
    if not isinstance(schema, Mapping):
        return
    if schema.get("x-pii") is True and pointer:
        found.add(pointer)
        return
    for name, sub in (schema.get("properties") or {}).items():
        _collect(sub, f"{pointer}/{_escape(str(name))}", found)
    items = schema.get("items")
    if isinstance(items, Mapping):
        _collect(items, f"{pointer}/{ITEMS}", found)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping) and extra.get("x-pii") is True:
        found.add(f"{pointer}/{ITEMS}")
