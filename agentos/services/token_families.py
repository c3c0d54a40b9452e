"""Refresh-token rotation with families, as state-store keys and one script.

Theory of operation. Signing in yields a *family*: an access token and a
refresh token that share a family id (claim ``fam``). Presenting the refresh
token returns a new pair of the same family and marks the presented one
used. A refresh token is good for one use: if a used one comes back, either
the client is broken or the token was stolen and one of the two parties
already rotated it. Both cases are answered the same way: the whole family
is revoked, so the thief's tokens and the victim's die together and the
victim signs in again.

Keys, all under the subject's hash tag so that one script may touch them
together in Redis Cluster::

    auth:{<subject>}:jti:<jti>                one revoked token
    auth:{<subject>}:before                   tokens issued before this are revoked
    auth:{<subject>}:fam:<family>:revoked     the family is revoked
    auth:{<subject>}:fam:<family>:used:<jti>  this refresh token was used
    auth:{<subject>}:disabled                 the user is disabled (written by
                                              agentos.pipeline.revocation)

Each key expires when nothing it could refuse can still be valid: a used
mark with its token's ``exp``, a family or subject mark one refresh lifetime
after it is set (no token of the family can be younger than that).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from agentos.state.base import Script

if TYPE_CHECKING:
    from agentos.state.keyspace import Keyspace


class Verdict(StrEnum):
    """What the rotation script found."""

    OK = "ok"  # the token was unused; it is now marked used
    REVOKED = "revoked"  # the token, its subject or its family was revoked
    REUSED = "reused"  # the token was used before; its family is now revoked


@dataclass(frozen=True)
class RevocationKeys:
    """The state keys that decide whether one token still counts."""

    subject: str
    jti: str
    family: str | None = None

    @property
    def tag(self) -> str:
        return f"auth:{{{self.subject}}}"

    @property
    def revoked_token(self) -> str:
        return f"{self.tag}:jti:{self.jti}"

    @property
    def revoked_before(self) -> str:
        return f"{self.tag}:before"

    @property
    def revoked_family(self) -> str:
        return f"{self.tag}:fam:{self.family or '-'}:revoked"

    @property
    def used(self) -> str:
        return f"{self.tag}:fam:{self.family or '-'}:used:{self.jti}"

    @property
    def disabled(self) -> str:
        return f"{self.tag}:disabled"

    def check_keys(self) -> list[str]:
        """The marks that revoke a token, in the order the scripts read them."""
        return [self.revoked_token, self.revoked_before, self.revoked_family]

    def rotate_keys(self) -> list[str]:
        """Every key ``ROTATE`` reads or writes."""
        return [*self.check_keys(), self.used, self.disabled]


# Shared by the Lua bodies: KEYS[1..3] are the token, revoked-before and
# family marks; ARGV[1] is the token's iat, ARGV[2] "1" when it has a family.

_REVOKED_LUA = """
local function revoked()
    if redis.call('EXISTS', KEYS[1]) == 1 then return true end
    local before = redis.call('GET', KEYS[2])
    if before and tonumber(ARGV[1]) < tonumber(before) then return true end
    return ARGV[2] == '1' and redis.call('EXISTS', KEYS[3]) == 1
end
"""


def _revoked(view: Keyspace, keys: list[str], args: list[str]) -> bool:
    if view.exists(keys[0]):
        return True
    before = view.get(keys[1])
    if before is not None and float(args[0]) < float(before):
        return True
    return args[1] == "1" and view.exists(keys[2])


# -- ROTATE: use a refresh token once -------------------------------------------
# KEYS: the three marks above, the used mark, the subject's disabled mark.
# ARGV: iat, "1", used-mark TTL in ms, family-revocation TTL in ms.

ROTATE_LUA = _REVOKED_LUA + """
if revoked() or redis.call('EXISTS', KEYS[5]) == 1 then return 'revoked' end
if redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[3]) then return 'ok' end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
return 'reused'
"""


def _rotate(view: Keyspace, keys: list[str], args: list[str], now: float) -> str:
    if _revoked(view, keys, args) or view.exists(keys[4]):
        return Verdict.REVOKED.value
    if view.set(keys[3], "1", ttl=int(args[2]) / 1000, nx=True):
        return Verdict.OK.value
    view.set(keys[2], "1", ttl=int(args[3]) / 1000)
    return Verdict.REUSED.value


ROTATE = Script("auth.rotate", ROTATE_LUA, _rotate)
