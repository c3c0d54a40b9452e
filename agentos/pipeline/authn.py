"""Authentication: a bearer token becomes a ``Principal``, or the request is refused.

Which key checks a token is decided by the service, never by the token:

* a token without ``kid`` is checked with the HS256 secret (configured, or
  the development key), and only as HS256;
* a token with ``kid`` is checked with the public key of that id
  (``jwt.public_keys``, several at once so that keys can rotate), and only
  with that key's algorithm: RS256 for an RSA key, ES256 for a P-256 key.

So ``alg: none``, an HS256 token signed with a public key's PEM, or an RS256
token without a known ``kid`` all fail on the algorithm or the key, before
any claim is read. ``exp``, ``iat``, ``iss``, ``aud``, ``sub`` and ``jti``
are required; ``nbf`` is honoured when present; clocks may differ by
``jwt.leeway_seconds``. The subject must be usable as a key scope
(``agentos.pipeline.scopes.valid_subject``).

Each worker remembers the claims of up to ``MAX_VERIFIED_TOKENS`` tokens
that verified, keyed by the whole token text: a dashboard or an operator's
script sends the same token many times, and the signature check with
PyJWT costs 30-60 us of CPU each time. A remembered token is checked for
expiry only; a change of keys or rules forgets them all, and a token that
fails is never remembered, so every failure still counts towards lockout.

A token that verifies is then admitted or refused by the state store in one
round trip (``agentos.pipeline.revocation``): revoked, disabled, locked.
With the state store down, reads pass on the signature alone and changes
get 503 (``agentos.pipeline.degraded``).

The request path, ``Authenticator.authenticate``::

    client address -> address locked? (429) -> bearer token (401)
      -> verify (401; the failure counts towards the address's lockout)
      -> admit (401 TOKEN_REVOKED / 429) -> success resets the count

``identify`` takes the steps up to the verification, ``admit`` the rest;
a caller that asks the state store something more about the same subject
hands ``admit`` (or ``authenticate_with``) those steps, which then run in
the admission's round trip and only for an admitted token: the tier
middleware and the action pipeline spend the rate limit that way.

Routes call ``agentos.auth.tokens.verify_request(request)``, which asks
``app.ctx.authenticator``. The outcome is kept on the request, so a route
and a middleware that both ask cost one verification and count one failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from agentos.auth.tokens import bearer_token, principal_from_claims
from agentos.errors import (
    AgentOSError,
    ConfigError,
    DependencyDown,
    TokenExpired,
    Unauthorized,
)
from agentos.logs import log_event
from agentos.pipeline.client_ip import request_client_ip
from agentos.pipeline.degraded import OutageReport, may_degrade
from agentos.pipeline.lockout import Lockout
from agentos.pipeline.revocation import Revocations
from agentos.pipeline.scopes import safe_part, valid_subject
from agentos.services.base import Principal
from agentos.state.compound import Step, run_steps

T = TypeVar("T")

logger = logging.getLogger("agentos.auth")

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
HMAC_ALGORITHM = "HS256"
MIN_RSA_BITS = 2048

MAX_VERIFIED_TOKENS = 10_000
"""Verified tokens a worker remembers; beyond that it forgets them all at once."""
MAX_KID_LENGTH = 128


class TokenRejected(Unauthorized):
    """A token that does not verify; ``reason`` names why, for the logs."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class VerificationKey:
    """A key and the one algorithm it verifies."""

    algorithm: str
    key: Any


class KeyRing:
    """The HS256 secret and the public keys by ``kid``."""

    def __init__(
        self, secret: str, public_keys: Mapping[str, str] | None = None
    ) -> None:
        self.secret = VerificationKey(HMAC_ALGORITHM, secret)
        self.public = {
            kid: public_key(kid, pem) for kid, pem in (public_keys or {}).items()
        }

    def select(self, header: Mapping[str, Any]) -> VerificationKey:
        """The key the token's header asks for, if this service holds it."""
        kid = header.get("kid")
        if kid is None:
            return self.secret
        if (
            not isinstance(kid, str)
            or len(kid) > MAX_KID_LENGTH
            or kid not in self.public
        ):
            raise TokenRejected(
                "unknown_kid",
                "The token names a signing key (kid) this service does not know; "
                "sign in again to get a token signed with a current key.",
            )
        return self.public[kid]


def public_key(kid: str, pem: str) -> VerificationKey:
    """Parse one configured PEM public key and fix its algorithm."""
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ConfigError(
            f"jwt.public_keys.{kid} is not a PEM public key: {exc}"
        ) from None

    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigError(
                f"jwt.public_keys.{kid} is a {key.key_size}-bit RSA key; "
                f"use at least {MIN_RSA_BITS} bits."
            )
        return VerificationKey("RS256", key)
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return VerificationKey("ES256", key)
    raise ConfigError(
        f"jwt.public_keys.{kid} must be an RSA key (RS256) or a P-256 key (ES256)."
    )


@dataclass(frozen=True)
class TokenRules:
    """The claims every token must carry, and the clock tolerance."""

    issuer: str
    audience: str
    leeway_seconds: float = 10


def verify_token(token: str, ring: KeyRing, rules: TokenRules) -> dict[str, Any]:
    """The verified claims of an access token, or raise 401.

    Raises ``TokenExpired`` for a token past its ``exp`` and
    ``TokenRejected`` (401 ``UNAUTHORIZED``) for every other fault.
    """
    if not token.isascii():  # a JWT is base64url and dots; PyJWT would not say so
        raise _malformed()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _malformed() from None
    key = ring.select(header)

    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm],
            audience=rules.audience,
            issuer=rules.issuer,
            leeway=rules.leeway_seconds,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError as exc:
        raise _translate(exc) from None

    _check_claims(claims)
    return claims


def _translate(exc: jwt.PyJWTError) -> Unauthorized:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return TokenExpired()
    for kind, reason, message in _REFUSALS:
        if isinstance(exc, kind):
            return TokenRejected(reason, message)
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return TokenRejected(
            "missing_claim",
            f"The token lacks the required claim '{exc.claim}'; sign in again.",
        )
    return _malformed()


_REFUSALS: list[tuple[type[jwt.PyJWTError], str, str]] = [
    (
        jwt.InvalidAlgorithmError,
        "algorithm",
        "The token is signed with an algorithm its key does not allow; "
        "sign in again to get a valid token.",
    ),
    (
        jwt.InvalidSignatureError,
        "signature",
        "The token's signature does not verify; sign in again to get a valid token.",
    ),
    (
        jwt.ImmatureSignatureError,
        "not_yet_valid",
        "The token is not valid yet (nbf or iat lies ahead); check the issuer's "
        "clock and retry later.",
    ),
    (
        jwt.InvalidIssuerError,
        "issuer",
        "The token comes from an issuer this service does not accept.",
    ),
    (
        jwt.InvalidAudienceError,
        "audience",
        "The token was issued for another audience than this service.",
    ),
]


def _malformed() -> TokenRejected:
    return TokenRejected(
        "malformed",
        "The bearer token is not a well-formed JWT; send the access token you "
        "were issued.",
    )


def _check_claims(claims: dict[str, Any]) -> None:
    subject, token_id = claims.get("sub"), claims.get("jti")
    if not isinstance(subject, str) or not valid_subject(subject):
        raise TokenRejected(
            "claims",
            "The token's subject must be 1-255 characters without spaces or braces.",
        )
    if not isinstance(token_id, str) or not 1 <= len(token_id) <= 255:
        raise TokenRejected("claims", "The token's id (jti) must be a short string.")
    if not isinstance(claims.get("iat"), int | float):
        raise TokenRejected("claims", "The token's iat must be a number of seconds.")
    if claims.get("typ", "access") != "access":
        raise TokenRejected("claims", "An access token is required here.")


# -- the adapter -----------------------------------------------------------


class Authenticator:
    """Authenticates requests: verify, admit, and count failures for lockout."""

    def __init__(
        self,
        ring: KeyRing,
        rules: TokenRules,
        *,
        revocations: Revocations,
        lockout: Lockout,
        trusted_proxies: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ring = ring
        self.clock = clock
        """Wall-clock seconds, for the expiry of remembered tokens."""
        self.rules = rules
        self.revocations = revocations
        self.lockout = lockout
        self.trusted_proxies = trusted_proxies
        self._unchecked = OutageReport(logger, "auth.unchecked")
        self._verified_claims: dict[str, dict[str, Any]] = {}
        self._checked_with: tuple[KeyRing, TokenRules] | None = None

    async def authenticate(self, request: Any) -> Principal:
        """The request's principal, or raise 401 or 429; the outcome is kept."""
        principal, _ = await self.authenticate_with(request, _no_steps)
        return principal

    async def authenticate_with(
        self, request: Any, then: Callable[[Principal], Sequence[Step]]
    ) -> tuple[Principal, list[Any] | None]:
        """Authenticate, and run ``then(principal)`` in the admission's round trip.

        The steps (a rate limit, say) run only for an admitted token; the
        second value is their replies, or ``None`` when the state store was
        down and a read passed on the signature alone. A request that was
        authenticated before runs the steps on their own.
        """
        known: Principal | None = getattr(request.ctx, "principal", None)
        if known is not None:
            degrade = may_degrade(request.method)
            steps = then(known)
            state = self.revocations.state
            return known, await self._consult(degrade, run_steps(state, steps))
        failure: AgentOSError | None = getattr(request.ctx, "auth_failure", None)
        if failure is not None:
            raise failure

        try:
            identified = await self.identify(request)
            replies = await identified.admit(*then(identified.principal))
        except AgentOSError as exc:
            request.ctx.auth_failure = exc
            raise
        request.ctx.principal = identified.principal
        return identified.principal, replies

    async def identify(self, request: Any) -> Identified:
        """Verify the request's token; its admission is left to the caller.

        Raises 429 for a locked address and 401 for a token that does not
        verify (counted towards the address's lockout). The caller must
        ``admit`` the result before acting on it.
        """
        address = request_client_ip(request, self.trusted_proxies)
        degrade = may_degrade(request.method)
        await self._consult(degrade, self.lockout.check_address(address))
        token = bearer_token(request)

        try:
            claims = self._verified(token)
            principal = principal_from_claims(claims)
        except TokenExpired:
            raise
        except Unauthorized as exc:
            await self._consult(degrade, self._failed(address, exc, token))
            raise
        return Identified(self, principal, claims, token, address, degrade)

    async def admit(self, identified: Identified, *then: Step) -> list[Any] | None:
        """Admit an identified caller, running ``then`` in the same round trip.

        Returns the replies of ``then``, or ``None`` when the state store is
        down and a read passes on the signature alone.
        """
        degrade = identified.degrade
        try:
            replies = await self._consult(
                degrade, self.revocations.admit(identified.claims, *then)
            )
        except Unauthorized as exc:
            await self._consult(
                degrade, self._failed(identified.address, exc, identified.token)
            )
            raise
        await self._consult(degrade, self.lockout.record_success(identified.address))
        return replies

    def _verified(self, token: str) -> dict[str, Any]:
        # A token that verified once needs no second signature check while
        # the keys and rules stay the same objects: only its expiry can
        # change. Failures are never kept, so each one still counts.
        if self._checked_with != (self.ring, self.rules):
            self._verified_claims.clear()
            self._checked_with = (self.ring, self.rules)
        claims = self._verified_claims.get(token)
        if claims is not None:
            if claims["exp"] + self.rules.leeway_seconds > self.clock():
                return claims
            del self._verified_claims[token]
            raise TokenExpired()

        claims = verify_token(token, self.ring, self.rules)
        if len(self._verified_claims) >= MAX_VERIFIED_TOKENS:
            self._verified_claims.clear()
        self._verified_claims[token] = claims
        return claims

    async def _consult(self, degrade: bool, step: Awaitable[T]) -> T | None:
        # A step that needs the state store; for a read, an outage skips it
        # (see agentos.pipeline.degraded) and gives None.
        try:
            return await step
        except DependencyDown:
            if not degrade:
                raise
            self._unchecked()
            return None

    async def _failed(self, address: str, exc: Unauthorized, token: str) -> None:
        status = await self.lockout.record_failure(address)
        log_event(
            logger,
            "auth.failed",
            logging.WARNING,
            reason=getattr(exc, "reason", exc.error_code.lower()),
            client_ip=address,
            kid=_logged_kid(token),
            failures=status.failures,
            locked=status.locked,
        )


def _no_steps(principal: Principal) -> Sequence[Step]:
    return ()


@dataclass
class Identified:
    """A caller whose token verified, not yet admitted by the state store.

    ``admit`` asks the store in one round trip whether the token still
    counts (revoked, disabled, locked) and, only if it does, runs the steps
    handed to it. A refusal counts towards the address's lockout like any
    failed authentication; an admission resets the count.
    """

    authenticator: Authenticator
    principal: Principal
    claims: dict[str, Any]
    token: str
    address: str
    degrade: bool

    async def admit(self, *then: Step) -> list[Any] | None:
        """Raise 401 ``TOKEN_REVOKED`` or 429, else return the replies of ``then``."""
        return await self.authenticator.admit(self, *then)


def _logged_kid(token: str) -> str | None:
    # The kid is the sender's text: log a safe form of it, never raw.
    if not token.isascii():
        return None
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None
    return safe_part(kid) if isinstance(kid, str) else None
