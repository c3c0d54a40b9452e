"""The state-store key scopes of a caller: one per subject, one per address.

Every key the pipeline keeps about a caller names its scope with the
caller in braces: ``u:{<subject>}`` or ``ip:{<address>}``. Redis Cluster
places a key by the text in its first braces (the hash tag), so every key
about one subject, its lockout and rate-limit counters here and its revoked
tokens (``auth:{<subject>}:...``, ``agentos.services.token_families``),
lands in one slot, and one script may read and write them together.

That holds only for subjects without braces, which ``valid_subject``
checks; the authenticator refuses tokens whose subject fails it. Client
addresses are normalized IP addresses (``agentos.pipeline.client_ip``).
Other parts of a key that come from outside are passed through
``safe_part``, so that no caller can make its key spell another's.
"""

from __future__ import annotations

import hashlib
import re

_SUBJECT = re.compile(r"[^\s{}\x00-\x1f\x7f]{1,255}")
_PLAIN = re.compile(r"[A-Za-z0-9._@-]{1,128}")


def valid_subject(subject: str) -> bool:
    """Whether ``subject`` can name a scope: 1-255 characters, no spaces or braces."""
    return bool(_SUBJECT.fullmatch(subject))


def subject_scope(subject: str) -> str:
    """The scope of every key about ``subject`` (which must be valid)."""
    return "u:{" + subject + "}"


def address_scope(address: str) -> str:
    """The scope of every key about a client address."""
    return "ip:{" + safe_part(address.replace(":", "-")) + "}"


def safe_part(text: str) -> str:
    """``text`` as one part of a key name: itself when plain, else a digest."""
    if _PLAIN.fullmatch(text):
        return text
    return "~" + hashlib.sha256(text.encode(errors="surrogatepass")).hexdigest()[:40]
