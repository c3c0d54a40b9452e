"""Who may use the user API: role sets and the owner scope of a caller.

The user API's rules are few and fixed, so they live here as data rather
than in ``policies/`` (which governs admin actions):

* ``admin`` and ``operator`` read and change everything;
* ``supervisor`` reads everything and may retry and cancel jobs;
* ``readonly`` reads everything and changes nothing;
* ``user`` reads and changes only what it owns; anything else is a 404,
  so that the existence of another user's resource does not leak.
"""

from __future__ import annotations

from agentos.errors import Forbidden
from agentos.services.base import Principal

READ_ALL = frozenset({"admin", "operator", "supervisor", "readonly"})
WRITE_ALL = frozenset({"admin", "operator"})
JOB_CONTROL = frozenset({"admin", "operator", "supervisor"})
OWN_ONLY = frozenset({"user"})
KNOWN_ROLES = READ_ALL | OWN_ONLY


def reads_all(principal: Principal) -> bool:
    """Whether the caller may read every user's resources."""
    return not READ_ALL.isdisjoint(principal.roles)


def writes_all(principal: Principal) -> bool:
    """Whether the caller may change every user's resources."""
    return not WRITE_ALL.isdisjoint(principal.roles)


def owner_scope(principal: Principal) -> str | None:
    """The owner id a query must be limited to, or ``None`` for all owners."""
    return None if reads_all(principal) else principal.subject


def require_any(principal: Principal, roles: frozenset[str], doing: str) -> None:
    """Raise 403 unless the caller holds one of ``roles``."""
    if roles.isdisjoint(principal.roles):
        allowed = ", ".join(sorted(roles))
        raise Forbidden(f"Only the roles {allowed} may {doing}.")


def require_known_role(principal: Principal) -> None:
    """Raise 403 for a token whose roles grant nothing in the user API."""
    if KNOWN_ROLES.isdisjoint(principal.roles):
        raise Forbidden("Your roles grant no access to this API.")
