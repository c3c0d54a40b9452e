"""``POST /api/auth/refresh``: rotate a refresh token into a new token pair.

The one user API route without an access token: the refresh token in the
body is the credential. Each refresh token works once; presenting a used
one revokes its whole family (401 ``TOKEN_REVOKED``), see
``agentos.services.token_families``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos.http.body import read_model
from agentos.http.docs import envelope, request_body, responses
from agentos.http.envelope import ok
from agentos.services.auth import AuthService

bp = Blueprint("auth")


class RefreshRequest(BaseModel):
    """The refresh token to use; it works once."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"refresh_token": "eyJhbGciOiJIUzI1NiJ9..."}},
    )

    refresh_token: str = Field(min_length=1, max_length=8192)


class TokenPairOut(BaseModel):
    """A new access token and the refresh token that renews it."""

    id: str = Field(description="The new refresh token's id (jti).")
    family_id: str = Field(description="The session; every rotation keeps it.")
    subject: str
    roles: list[str]
    token_type: str = Field(examples=["Bearer"])
    access_token: str
    expires_in: int = Field(description="Seconds the access token stays valid.")
    refresh_token: str
    refresh_expires_in: int


@bp.post("/api/auth/refresh")
@openapi.definition(
    summary="Exchange a refresh token for a new token pair",
    description="Each refresh token works once. A refresh token presented a "
    "second time revokes every token of its session: 401 TOKEN_REVOKED, and "
    "its holder must sign in again. A session older than "
    "jwt.refresh_family_lifetime_seconds (30 days by default) is not renewed: "
    "401 SESSION_EXPIRED. No access token is needed.",
    tag="auth",
    body=request_body(RefreshRequest),
    response=responses(envelope(TokenPairOut), 400, 415),
)
async def refresh(request: Request) -> HTTPResponse:
    """Rotate the refresh token; answer the new pair."""
    body = read_model(request, RefreshRequest)
    service: AuthService = request.app.ctx.services["auth"]
    pair = await service.refresh(body.refresh_token)
    return ok(pair.as_dict(), headers={"Cache-Control": "no-store"})
