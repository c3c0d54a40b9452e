"""Lockout: too many failed authentications lock an address or a subject out.

The rule (``lockout`` in ``policies/access.yaml``): ``max_failures`` failed
authentications from one client address, or for one subject, within
``window_seconds`` of the first of them lock that address or subject out
for ``lock_seconds``. A locked caller is answered 429 ``LOCKED_OUT`` with
``Retry-After``; the failure that reaches the limit is still answered as
the failure it is. A successful authentication resets the count.

Whose failure is it? A bearer token that does not verify names no one we
can believe: its ``sub`` is whatever the sender wrote. Counting it against
that subject would let anyone lock any user out by sending junk in their
name, so failed tokens count against the address only. Failures that do
identify a subject (a wrong password for a known user, at sign-in) count
against both.

State, per scope (``agentos.pipeline.scopes``): ``lockout:<scope>:failures``
counts failures and expires ``window_seconds`` after the first;
``lockout:<scope>:locked`` exists while the lock lasts. Each step is one
atomic script (Lua, with a Python twin for the memory state).

Cost on the request path. Checking an address's lock on every request
would add a round trip to every request. Each worker therefore remembers
an address's state for ``STATUS_TTL`` seconds after reading it: a lock set
by another worker takes effect here within that second (at once for the
worker that set it, and at once for every failed attempt, which always
goes to the store), and a success resets the count when this worker knows
of failures. Subjects need no such memory: their lock is read in the same
script that checks revoked tokens (``agentos.pipeline.revocation``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentos.errors import LockedOut
from agentos.pipeline.access_policy import LockoutPolicy
from agentos.pipeline.scopes import address_scope, subject_scope
from agentos.state.base import Script

if TYPE_CHECKING:
    from agentos.state.keyspace import Keyspace

STATUS_TTL = 1.0
"""Seconds a worker trusts what it last read of an address's lockout."""

MAX_REMEMBERED = 10_000
"""Addresses a worker remembers at most; beyond that it forgets them all."""


def lockout_keys(scope: str) -> tuple[str, str]:
    """The failure counter and the lock marker of one scope."""
    return f"lockout:{scope}:failures", f"lockout:{scope}:locked"


@dataclass(frozen=True)
class LockStatus:
    """What the store says about one scope."""

    locked_ms: int = 0
    """Milliseconds the lock still lasts; 0 when not locked."""
    failures: int = 0
    """Failures counted in the current window."""

    @property
    def locked(self) -> bool:
        return self.locked_ms > 0


def locks_now(failures: int, policy: LockoutPolicy) -> bool:
    """Whether the failure that brought the count to ``failures`` locks the scope."""
    return failures >= policy.max_failures


def refusal(status: LockStatus, what: str) -> LockedOut:
    """The 429 for a locked ``what`` (``this address``, ``this account``)."""
    seconds = max(1, math.ceil(status.locked_ms / 1000))
    return LockedOut(
        f"Too many failed authentications from {what}; it is locked out for "
        f"{seconds} more seconds. Wait for Retry-After, then sign in again.",
        retry_after=seconds,
    )


# -- scripts ---------------------------------------------------------------

_FAIL_LUA = """
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then return {locked, 0} end
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if failures >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return {tonumber(ARGV[3]), failures}
end
return {0, failures}
"""


def _fail(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[int]:
    locked = _pttl(view, keys[1])
    if locked > 0:
        return [locked, 0]
    failures = view.incr(keys[0])
    if failures == 1:
        view.expire(keys[0], int(args[1]) / 1000)
    if failures >= int(args[0]):
        view.set(keys[1], "1", ttl=int(args[2]) / 1000)
        view.delete(keys[0])
        return [int(args[2]), failures]
    return [0, failures]


FAIL = Script("lockout.fail", _FAIL_LUA, _fail)
"""Count a failure unless locked. ``KEYS`` counter, lock; ``ARGV`` max,
window ms, lock ms. Returns ``[lock ms left, failures]``."""


_STATUS_LUA = """
local locked = redis.call('PTTL', KEYS[2])
if locked < 0 then locked = 0 end
return {locked, tonumber(redis.call('GET', KEYS[1]) or '0')}
"""


def _status(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[int]:
    return [max(0, _pttl(view, keys[1])), int(view.get(keys[0]) or 0)]


STATUS = Script("lockout.status", _STATUS_LUA, _status)
"""Read a scope. ``KEYS`` counter, lock. Returns ``[lock ms left, failures]``."""


def _pttl(view: Keyspace, key: str) -> int:
    left = view.ttl(key)
    if left is None:
        return 1 if view.exists(key) else 0
    return max(1, math.ceil(left * 1000))


# -- the adapter -----------------------------------------------------------


class Lockout:
    """Counts failed authentications and refuses locked callers."""

    def __init__(
        self,
        state: Any,
        policy: LockoutPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.policy = policy
        self._clock = clock
        self._known: dict[str, tuple[float, LockStatus]] = {}

    async def check_address(self, address: str) -> LockStatus:
        """Raise 429 ``LOCKED_OUT`` if ``address`` is locked; else its status."""
        status = await self._address_status(address)
        if status.locked:
            raise refusal(status, "this address")
        return status

    async def record_failure(
        self, address: str, subject: str | None = None
    ) -> LockStatus:
        """Count a failed authentication; return the address's status after it.

        With ``subject`` (only when the failure truly identifies it) the
        subject's count goes up too, and the worse of the two is returned
        (locked before unlocked, then more failures before fewer).
        """
        status = await self._fail(address_scope(address))
        self._remember(address, status)
        if subject is None:
            return status
        other = await self._fail(subject_scope(subject))
        return max(status, other, key=lambda s: (s.locked_ms, s.failures))

    async def record_success(self, address: str, subject: str | None = None) -> None:
        """Reset the counts of a caller that just authenticated."""
        known = self._known.get(address)
        if subject is None and (known is None or known[1].failures == 0):
            return
        scopes = [address_scope(address)] + (
            [subject_scope(subject)] if subject else []
        )
        for scope in scopes:
            await self.state.delete(lockout_keys(scope)[0])
        self._remember(address, LockStatus())

    async def clear(
        self, *, address: str | None = None, subject: str | None = None
    ) -> int:
        """Lift the lock and the count of an address or subject; return keys removed."""
        scopes = []
        if address is not None:
            scopes.append(address_scope(address))
            self._known.pop(address, None)
        if subject is not None:
            scopes.append(subject_scope(subject))
        removed = 0
        for scope in scopes:
            removed += await self.state.delete(*lockout_keys(scope))
        return removed

    async def _fail(self, scope: str) -> LockStatus:
        args = [
            self.policy.max_failures,
            math.ceil(self.policy.window_seconds * 1000),
            math.ceil(self.policy.lock_seconds * 1000),
        ]
        locked_ms, failures = await self.state.run(FAIL, lockout_keys(scope), args)
        return LockStatus(int(locked_ms), int(failures))

    async def _address_status(self, address: str) -> LockStatus:
        known = self._known.get(address)
        if known is not None and known[0] > self._clock():
            return known[1]
        reply = await self.state.run(STATUS, lockout_keys(address_scope(address)), [])
        status = LockStatus(int(reply[0]), int(reply[1]))
        self._remember(address, status)
        return status

    def _remember(self, address: str, status: LockStatus) -> None:
        if len(self._known) >= MAX_REMEMBERED:
            self._known.clear()
        self._known[address] = (self._clock() + STATUS_TTL, status)
