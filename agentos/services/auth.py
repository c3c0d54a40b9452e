"""Token pairs, refresh-token rotation and revocation.

``issue_pair`` makes the first pair of a family (the CLI's ``agentos token
issue --refresh``, a sign-in flow, tests); ``AuthService.refresh`` rotates a
refresh token as ``services.token_families`` describes; ``revoke`` writes
the revocation marks that the authenticator (``agentos.pipeline.revocation``)
reads on every request. All the state (used refresh tokens, revoked
families, tokens and subjects) lives in the state store with TTLs, so every
worker of every host agrees at once.

A refresh carries the roles of the user's row when the subject is a known
user (so a role change or a disabled account takes effect at the next
refresh); a subject without a row keeps the roles its token was issued with.

A family has an absolute lifetime (``jwt.refresh_family_lifetime_seconds``,
30 days by default): every token of a family carries the family's start in
the signed claim ``fam_iat``, rotation copies it unchanged, and a refresh
after the lifetime is refused with 401 ``SESSION_EXPIRED``, so a stolen
refresh token cannot be rotated forever. The last refresh token of a family
expires with it. A token issued before ``fam_iat`` existed starts its
family's clock at its own ``iat``.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from agentos.auth.tokens import TokenKeys, decode_token, issue_token
from agentos.config import Settings, jwt_signing_key
from agentos.errors import BadRequest, SessionExpired, TokenRevoked
from agentos.logs import log_event
from agentos.services.base import CallContext, Service, operation
from agentos.services.catalog import register
from agentos.services.token_families import ROTATE, RevocationKeys, Verdict
from agentos.state.base import ttl_ms

logger = logging.getLogger("agentos.auth")


@dataclass(frozen=True)
class TokenPair:
    """An access token and the refresh token that renews it, of one family."""

    access_token: str
    refresh_token: str
    access_claims: dict[str, Any]
    refresh_claims: dict[str, Any]

    @property
    def family_id(self) -> str:
        return str(self.refresh_claims["fam"])

    def as_dict(self) -> dict[str, Any]:
        """The pair as the API answers it; ``id`` is the refresh token's id."""
        now = int(time.time())
        return {
            "id": self.refresh_claims["jti"],
            "family_id": self.family_id,
            "subject": self.access_claims["sub"],
            "roles": self.access_claims["roles"],
            "token_type": "Bearer",
            "access_token": self.access_token,
            "expires_in": self.access_claims["exp"] - now,
            "refresh_token": self.refresh_token,
            "refresh_expires_in": self.refresh_claims["exp"] - now,
        }


def signing_keys(settings: Settings) -> TokenKeys:
    """The keys tokens are signed with, from the settings."""
    secret, _ = jwt_signing_key(settings)
    jwt = settings.jwt
    return TokenKeys(secret, jwt.issuer, jwt.audience, jwt.leeway_seconds)


def issue_pair(
    keys: TokenKeys,
    subject: str,
    roles: list[str],
    *,
    access_ttl: int,
    refresh_ttl: int,
    family_id: str | None = None,
    family_started: int | None = None,
) -> TokenPair:
    """Sign an access and a refresh token for ``subject``; a new family unless given.

    ``family_started`` (Unix seconds) is when the family began; a new family
    begins now.
    """
    started = int(time.time()) if family_started is None else family_started
    family = {"fam": family_id or uuid.uuid4().hex, "fam_iat": started}
    access, access_claims = issue_token(
        keys, subject, roles, ttl_seconds=access_ttl, extra=family
    )
    refresh, refresh_claims = issue_token(
        keys, subject, roles, ttl_seconds=refresh_ttl, token_type="refresh",
        extra=family,
    )
    return TokenPair(access, refresh, access_claims, refresh_claims)


@register
class AuthService(Service):
    """Issues, rotates and revokes tokens."""

    name = "auth"

    @cached_property
    def keys(self) -> TokenKeys:
        """The signing keys, read once from the settings."""
        return signing_keys(self.settings)

    def issue_pair(
        self,
        subject: str,
        roles: list[str],
        *,
        family_id: str | None = None,
        family_started: int | None = None,
    ) -> TokenPair:
        """The first pair of a new family (or the next of ``family_id``).

        The refresh token never outlives its family's absolute lifetime.
        """
        jwt = self.settings.jwt
        started = int(time.time()) if family_started is None else family_started
        family_left = started + jwt.refresh_family_lifetime_seconds - time.time()
        return issue_pair(
            self.keys, subject, roles, access_ttl=jwt.access_ttl_seconds,
            refresh_ttl=max(1, min(jwt.refresh_ttl_seconds, int(family_left))),
            family_id=family_id, family_started=started,
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Use ``refresh_token`` once: a new pair, or 401 and a revoked family."""
        claims = decode_token(self.keys, refresh_token, token_type="refresh")
        family = claims.get("fam")
        if not isinstance(family, str) or not family:
            raise BadRequest("This refresh token belongs to no family; sign in again.")
        marks = RevocationKeys(str(claims["sub"]), str(claims["jti"]), family)
        started = self._check_family_age(marks, claims)

        verdict = await self._rotate(marks, claims)
        if verdict is not Verdict.OK:
            self._refuse(verdict, marks)

        roles = await self._current_roles(marks, claims)
        pair = self.issue_pair(marks.subject, roles, family_id=family,
                               family_started=started)
        log_event(logger, "token.refreshed", subject=marks.subject, family=family)
        return pair

    @operation
    async def revoke(
        self, ctx: CallContext, *, subject: str, jti: str | None = None
    ) -> dict[str, Any]:
        """Revoke one token of ``subject``, or every token issued to it until now."""
        marks = RevocationKeys(subject, jti or "-")
        lifetime = self._longest_lifetime()
        if jti:
            await self.state.set(marks.revoked_token, "1", ttl=lifetime)
        else:
            await self.state.set(marks.revoked_before, repr(time.time()), ttl=lifetime)
        log_event(logger, "token.revoked", subject=subject, jti=jti,
                  actor=ctx.principal.subject, scope="token" if jti else "subject")
        return {"id": jti or subject, "subject": subject, "jti": jti,
                "scope": "token" if jti else "subject"}

    def _check_family_age(self, marks: RevocationKeys, claims: dict[str, Any]) -> int:
        """When the family began; 401 SESSION_EXPIRED once it is too old."""
        started = claims.get("fam_iat", claims["iat"])
        if isinstance(started, bool) or not isinstance(started, int):
            raise BadRequest("This refresh token has no valid family start; "
                             "sign in again.")
        lifetime = self.settings.jwt.refresh_family_lifetime_seconds
        if time.time() - started <= lifetime:
            return started

        log_event(logger, "token.session_expired", subject=marks.subject,
                  family=marks.family, lifetime_seconds=lifetime)
        shown = f"{lifetime // 86_400} days" if lifetime % 86_400 == 0 else (
            f"{lifetime} seconds")
        raise SessionExpired(
            f"This sign-in is older than {shown}, the longest a session may be "
            "renewed; sign in again."
        )

    async def _rotate(self, marks: RevocationKeys, claims: dict[str, Any]) -> Verdict:
        remaining = int(claims["exp"]) - time.time() + self.keys.leeway_seconds
        args = [int(claims["iat"]), "1", ttl_ms(max(remaining, 1)),
                ttl_ms(self._longest_lifetime())]
        return Verdict(await self.state.run(ROTATE, marks.rotate_keys(), args))

    def _refuse(self, verdict: Verdict, marks: RevocationKeys) -> None:
        if verdict is Verdict.REUSED:
            log_event(logger, "token.reuse_detected", logging.WARNING,
                      subject=marks.subject, family=marks.family,
                      hint="a used refresh token came back; its family is revoked")
            raise TokenRevoked(
                "This refresh token was already used, so every token of its "
                "session has been revoked; sign in again."
            )
        raise TokenRevoked()

    async def _current_roles(
        self, marks: RevocationKeys, claims: dict[str, Any]
    ) -> list[str]:
        user = await self._user(marks.subject)
        if user is None:
            return list(claims.get("roles") or [])
        if user["disabled"]:
            await self.state.set(marks.revoked_family, "1",
                                 ttl=self._longest_lifetime())
            raise TokenRevoked("This account is disabled; ask an administrator.")
        return list(user["roles"])

    async def _user(self, subject: str) -> dict[str, Any] | None:
        try:
            uuid.UUID(subject)
        except ValueError:
            return None  # not a user id: a service or operator subject
        sql = "SELECT roles, disabled FROM users WHERE id = $1"
        user: dict[str, Any] | None = await self.db.fetchrow(sql, subject)
        return user

    def _longest_lifetime(self) -> float:
        jwt = self.settings.jwt
        longest = max(jwt.access_ttl_seconds, jwt.refresh_ttl_seconds)
        return float(longest + jwt.leeway_seconds)
