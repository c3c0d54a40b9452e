"""Access tokens: signing with PyJWT, and verifying them into a ``Principal``.

The algorithm list is fixed by the key in hand, never read from the token:
HS256 for the shared development or configured secret. ``exp``, ``iat``,
``iss``, ``aud``, ``sub`` and ``jti`` are required on every token, so a token
minted for another service or without an expiry is refused.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from sanic import Request

from agentos.errors import TokenExpired, Unauthorized
from agentos.services.base import Principal

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
HMAC_ALGORITHMS = ["HS256"]


@dataclass(frozen=True)
class TokenKeys:
    """The keys and claims that tokens are signed and checked with."""

    secret: str
    issuer: str
    audience: str
    leeway_seconds: int = 10


def issue_token(
    keys: TokenKeys,
    subject: str,
    roles: list[str],
    *,
    ttl_seconds: int = 900,
    token_type: str = "access",
    extra: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sign a token for ``subject``; return it with its claims."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": list(roles),
        "iss": keys.issuer,
        "aud": keys.audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "typ": token_type,
        **(extra or {}),
    }
    return jwt.encode(claims, keys.secret, algorithm="HS256"), claims


def decode_token(
    keys: TokenKeys, token: str, *, token_type: str = "access"
) -> dict[str, Any]:
    """Verify ``token`` and return its claims, or raise 401."""
    try:
        claims = jwt.decode(
            token,
            keys.secret,
            algorithms=HMAC_ALGORITHMS,
            audience=keys.audience,
            issuer=keys.issuer,
            leeway=keys.leeway_seconds,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"The token is not valid: {exc}.") from None
    if claims.get("typ", "access") != token_type:
        raise Unauthorized(f"A {token_type} token is required here.")
    return claims


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The caller a verified token stands for."""
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("The token's 'roles' claim must be a list of role names.")
    return Principal(
        subject=str(claims["sub"]),
        roles=tuple(roles),
        token_id=str(claims["jti"]),
        claims=claims,
    )


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer`` header, or raise 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


async def verify_request(request: Request) -> Principal:
    """Authenticate the request's bearer token into a ``Principal``.

    The app's authenticator (``app.ctx.authenticator``, built by
    ``agentos.pipeline.gate``) does the work: key selection by ``kid``,
    revocation, disabled users and lockout. Every route calls this function.
    """
    principal: Principal = await request.app.ctx.authenticator.authenticate(request)
    request.ctx.principal = principal
    return principal

