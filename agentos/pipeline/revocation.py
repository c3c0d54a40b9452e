"""Whether a verified token still counts: revocation, disabled users, locks.

A token that verifies may still be refused, for four reasons, all kept in
the state store under the subject's hash tag so that one script reads them
in one round trip (``ADMIT``):

=====================================  =====================================
key                                    refuses
=====================================  =====================================
``auth:{<subject>}:disabled``          every token of a disabled user
``auth:{<subject>}:jti:<jti>``         one revoked token
``auth:{<subject>}:before``            tokens issued before that time
``auth:{<subject>}:fam:<fam>:revoked`` the tokens of one sign-in session
``lockout:u:{<subject>}:locked``       a subject locked out (429)
=====================================  =====================================

The revocation keys are written by the auth service
(``agentos.services.auth``, ``agentos.services.token_families``): its
``revoke`` operation backs the ``system.token.revoke`` action. The
disabled mark is written here (``set_disabled``), by whatever disables or
enables a user, and again at start-up from the users table
(``sync_disabled_users``), so that a state store that lost it (a new
Redis, the memory state of a restarted process) learns it back before the
first request.

Tokens carry ``iat`` in whole seconds, so revoking a subject also refuses a
token issued in the same second just after the revocation; its holder signs
in again a second later.

Whoever admits a token may hand ``admit`` further steps (the rate limit of
the call, say) that run in the same round trip, and only for an admitted
token (``agentos.state.compound``): every key here carries the subject's
hash tag, as the rate limiter's per-subject counters do.

An admitted token also clears its subject's failed-authentication count
(a success resets it; ``agentos.pipeline.lockout``), with a write only when
there is a count to clear.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from agentos.errors import TokenRevoked
from agentos.logs import log_event
from agentos.pipeline.lockout import LockStatus, lockout_keys, refusal
from agentos.pipeline.scopes import subject_scope
from agentos.services.token_families import RevocationKeys
from agentos.state.base import Script
from agentos.state.compound import Step, run_steps

if TYPE_CHECKING:
    from agentos.state.keyspace import Keyspace

logger = logging.getLogger("agentos.auth")


class Admission(IntEnum):
    """What ``ADMIT`` found, most serious first."""

    ADMITTED = 0
    REVOKED = 1  # the token, its session or every token before a time
    DISABLED = 2  # the user is disabled
    LOCKED = 3  # the subject is locked out


@dataclass(frozen=True)
class Marks:
    """What the store holds about one token, as ``ADMIT`` reads it."""

    disabled: bool = False
    token_revoked: bool = False
    revoked_before: float | None = None
    family_revoked: bool = False
    locked_ms: int = 0


def admission(marks: Marks, issued_at: float) -> Admission:
    """The decision on a verified token issued at ``issued_at``, given its marks."""
    if marks.disabled:
        return Admission.DISABLED
    if marks.token_revoked or marks.family_revoked:
        return Admission.REVOKED
    if marks.revoked_before is not None and issued_at < marks.revoked_before:
        return Admission.REVOKED
    if marks.locked_ms > 0:
        return Admission.LOCKED
    return Admission.ADMITTED


def disabled_key(subject: str) -> str:
    """The mark of a disabled user."""
    return RevocationKeys(subject, "-").tag + ":disabled"


def admit_keys(claims: dict[str, Any]) -> tuple[str, ...]:
    """``ADMIT``'s keys for a token's claims."""
    family = claims.get("fam")
    return _admit_keys(
        str(claims["sub"]), str(claims["jti"]), family if _is_family(family) else None
    )


@functools.lru_cache(maxsize=4096)
def _admit_keys(subject: str, jti: str, family: str | None) -> tuple[str, ...]:
    # A client sends the same token many times: its six names are made once.
    marks = RevocationKeys(subject, jti, family)
    locked_failures, locked = lockout_keys(subject_scope(subject))
    return (*marks.check_keys(), disabled_key(subject), locked, locked_failures)


def _is_family(value: object) -> bool:
    return isinstance(value, str) and bool(value)


# -- the script ------------------------------------------------------------
# KEYS: revoked token, revoked before, revoked family, disabled, subject
# lock, subject failure count. ARGV: iat, "1" when the token has a family.
# Reply: [admission, lock ms left].

_ADMIT_LUA = """
if redis.call('EXISTS', KEYS[4]) == 1 then return {2, 0} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, 0} end
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return {1, 0} end
local before = redis.call('GET', KEYS[2])
if before and tonumber(ARGV[1]) < tonumber(before) then return {1, 0} end
local locked = redis.call('PTTL', KEYS[5])
if locked > 0 then return {3, locked} end
if redis.call('EXISTS', KEYS[6]) == 1 then redis.call('DEL', KEYS[6]) end
return {0, 0}
"""


def _admit(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[int]:
    before = view.get(keys[1])
    locked_left = view.ttl(keys[4])
    marks = Marks(
        disabled=view.exists(keys[3]),
        token_revoked=view.exists(keys[0]),
        revoked_before=None if before is None else float(before),
        family_revoked=args[1] == "1" and view.exists(keys[2]),
        locked_ms=0 if locked_left is None else max(1, round(locked_left * 1000)),
    )
    decision = admission(marks, float(args[0]))
    if decision is Admission.ADMITTED:
        view.delete(keys[5])
    return [int(decision), marks.locked_ms if decision is Admission.LOCKED else 0]


ADMIT = Script("auth.admit", _ADMIT_LUA, _admit)


# -- the adapter -----------------------------------------------------------


class Revocations:
    """Admits or refuses verified tokens; marks users disabled."""

    def __init__(self, state: Any) -> None:
        self.state = state

    async def admit(self, claims: dict[str, Any], *then: Step) -> list[Any]:
        """Raise 401 ``TOKEN_REVOKED`` or 429 ``LOCKED_OUT``, else return.

        ``then`` runs in the same round trip, only if the token is admitted;
        their replies are returned (see ``agentos.state.compound``).
        """
        flag = "1" if _is_family(claims.get("fam")) else "0"
        admit = Step(ADMIT, admit_keys(claims), [claims["iat"], flag], go_on=0)
        replies = await run_steps(self.state, [admit, *then])
        decision, locked_ms = Admission(int(replies[0][0])), int(replies[0][1])

        if decision is Admission.DISABLED:
            raise TokenRevoked("This account is disabled; ask an administrator.")
        if decision is Admission.REVOKED:
            raise TokenRevoked()
        if decision is Admission.LOCKED:
            raise refusal(LockStatus(locked_ms=locked_ms), "this account")
        return replies[1:]

    async def set_disabled(self, subject: str, disabled: bool) -> None:
        """Mark ``subject`` disabled (every token refused) or lift the mark."""
        if disabled:
            await self.state.set(disabled_key(subject), "1")
        else:
            await self.state.delete(disabled_key(subject))
        log_event(
            logger, "user.disabled" if disabled else "user.enabled", subject=subject
        )


async def sync_disabled_users(db: Any, state: Any) -> int:
    """Mark every user the users table says is disabled; return how many."""
    rows = await db.fetch("SELECT id FROM users WHERE disabled = $1", True)
    for row in rows:
        await state.set(disabled_key(str(row["id"])), "1")
    if rows:
        log_event(logger, "user.disabled_synced", users=len(rows))
    return len(rows)
