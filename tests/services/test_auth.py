"""Refresh-token rotation with families, on memory and on Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest

from agentos.auth.tokens import decode_token, issue_token
from agentos.errors import (
    BadRequest,
    SessionExpired,
    TokenExpired,
    TokenRevoked,
    Unauthorized,
)
from agentos.services.auth import AuthService, TokenPair, issue_pair
from agentos.services.token_families import RevocationKeys
from tests.fixtures.jobs import Stores, staff_ctx


def auth(stores: Stores) -> AuthService:
    service: AuthService = stores.services["auth"]  # type: ignore[assignment]
    return service


def first_pair(stores: Stores, *roles: str, subject: str | None = None) -> TokenPair:
    """A new family for a fresh subject."""
    subject = subject or str(uuid.uuid4())
    return auth(stores).issue_pair(subject, list(roles or ["user"]))


def marks(pair: TokenPair) -> RevocationKeys:
    claims = pair.refresh_claims
    return RevocationKeys(claims["sub"], claims["jti"], claims["fam"])


async def test_each_refresh_returns_a_new_pair_of_the_same_family(
    stores: Stores,
) -> None:
    """Rotation gives fresh tokens that verify, and keeps the family id."""
    pair = first_pair(stores, "user")

    second = await auth(stores).refresh(pair.refresh_token)
    third = await auth(stores).refresh(second.refresh_token)

    access = decode_token(auth(stores).keys, third.access_token)
    assert len({pair.refresh_token, second.refresh_token, third.refresh_token}) == 3
    assert third.family_id == pair.family_id
    assert access["sub"] == pair.access_claims["sub"]
    assert access["roles"] == ["user"]


async def test_a_reused_refresh_token_revokes_the_whole_family(stores: Stores) -> None:
    """The second use of a token fails, and so does the newer token of its family."""
    pair = first_pair(stores)
    newer = await auth(stores).refresh(pair.refresh_token)

    with pytest.raises(TokenRevoked, match="already used"):
        await auth(stores).refresh(pair.refresh_token)
    with pytest.raises(TokenRevoked):
        await auth(stores).refresh(newer.refresh_token)

    assert await stores.state.exists(marks(pair).revoked_family)


async def test_two_simultaneous_uses_let_exactly_one_through(stores: Stores) -> None:
    """Racing the same token: one pair is issued, the other call revokes the family."""
    pair = first_pair(stores)

    results = await asyncio.gather(
        auth(stores).refresh(pair.refresh_token),
        auth(stores).refresh(pair.refresh_token),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, TokenPair)]
    assert len(winners) == 1
    assert sum(isinstance(r, TokenRevoked) for r in results) == 1
    with pytest.raises(TokenRevoked):
        await auth(stores).refresh(winners[0].refresh_token)


async def test_other_families_of_the_subject_are_untouched(stores: Stores) -> None:
    """Revoking one session leaves the subject's other sessions working."""
    subject = str(uuid.uuid4())
    stolen = first_pair(stores, subject=subject)
    other = first_pair(stores, subject=subject)
    await auth(stores).refresh(stolen.refresh_token)
    with pytest.raises(TokenRevoked):
        await auth(stores).refresh(stolen.refresh_token)

    renewed = await auth(stores).refresh(other.refresh_token)

    assert renewed.family_id == other.family_id


async def test_the_marks_expire_with_the_tokens_they_refuse(stores: Stores) -> None:
    """A used mark lives as long as its token; a family mark one refresh lifetime."""
    pair = first_pair(stores)
    lifetime = stores.services["auth"].settings.jwt.refresh_ttl_seconds
    await auth(stores).refresh(pair.refresh_token)
    with pytest.raises(TokenRevoked):
        await auth(stores).refresh(pair.refresh_token)

    used_ttl = await stores.state.ttl(marks(pair).used)
    family_ttl = await stores.state.ttl(marks(pair).revoked_family)

    assert used_ttl is not None and 0 < used_ttl <= lifetime + 60
    assert family_ttl is not None and lifetime - 60 < family_ttl <= lifetime + 60


@pytest.mark.parametrize("scope", ["token", "subject"])
async def test_a_revoked_refresh_token_is_refused(stores: Stores, scope: str) -> None:
    """revoke by jti, or every token of the subject, stops rotation."""
    pair = first_pair(stores)
    claims = pair.refresh_claims
    jti = claims["jti"] if scope == "token" else None

    await auth(stores).revoke(staff_ctx("admin"), subject=claims["sub"], jti=jti)

    with pytest.raises(TokenRevoked):
        await auth(stores).refresh(pair.refresh_token)


async def test_a_disabled_mark_stops_rotation(stores: Stores) -> None:
    """The pipeline's disabled mark for the subject refuses its refresh tokens."""
    pair = first_pair(stores)

    await stores.state.set(marks(pair).disabled, "1")

    with pytest.raises(TokenRevoked):
        await auth(stores).refresh(pair.refresh_token)


async def test_a_known_user_gets_the_roles_of_its_row(stores: Stores) -> None:
    """A role change in the users table shows in the next pair."""
    subject = str(uuid.uuid4())
    await insert_user(stores, subject, ["operator"], disabled=False)
    pair = first_pair(stores, "user", subject=subject)

    renewed = await auth(stores).refresh(pair.refresh_token)

    assert renewed.access_claims["roles"] == ["operator"]


async def test_a_disabled_user_cannot_refresh_and_loses_the_family(
    stores: Stores,
) -> None:
    """A disabled account is refused and its session revoked."""
    subject = str(uuid.uuid4())
    await insert_user(stores, subject, ["user"], disabled=True)
    pair = first_pair(stores, subject=subject)

    with pytest.raises(TokenRevoked, match="disabled"):
        await auth(stores).refresh(pair.refresh_token)

    assert await stores.state.exists(marks(pair).revoked_family)


async def insert_user(
    stores: Stores, subject: str, roles: list[str], *, disabled: bool
) -> None:
    now = datetime.now(UTC)
    await stores.db.execute(
        "INSERT INTO users (id, username, roles, disabled, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $5)",
        subject, f"user-{subject[:8]}", roles, disabled, now,
    )


async def test_an_access_token_is_not_a_refresh_token(stores: Stores) -> None:
    """Presenting the access token of a pair is 401."""
    pair = first_pair(stores)

    with pytest.raises(Unauthorized, match="refresh token is required"):
        await auth(stores).refresh(pair.access_token)


async def test_an_expired_or_tampered_refresh_token_is_refused(stores: Stores) -> None:
    """An expired token is TOKEN_EXPIRED; a changed signature is UNAUTHORIZED."""
    keys = auth(stores).keys
    expired = issue_pair(keys, "s", ["user"], access_ttl=60, refresh_ttl=-120)
    pair = first_pair(stores)
    head, body, signature = pair.refresh_token.split(".")
    tampered = f"{head}.{body}.{signature[::-1]}"

    with pytest.raises(TokenExpired):
        await auth(stores).refresh(expired.refresh_token)
    with pytest.raises(Unauthorized):
        await auth(stores).refresh(tampered)


async def test_a_refresh_token_without_a_family_is_refused(stores: Stores) -> None:
    """A refresh token minted outside issue_pair has no family and is 400."""
    token, _ = issue_token(auth(stores).keys, "s", ["user"], token_type="refresh")

    with pytest.raises(BadRequest, match="family"):
        await auth(stores).refresh(token)


DAY = 86_400


def aged_pair(stores: Stores, age_seconds: int) -> TokenPair:
    """The first pair of a family that began ``age_seconds`` ago."""
    started = int(time.time()) - age_seconds
    return auth(stores).issue_pair(str(uuid.uuid4()), ["user"],
                                   family_started=started)


async def test_rotation_inside_the_family_lifetime_keeps_the_family_start(
    stores: Stores,
) -> None:
    """A family a day short of its lifetime rotates; its start and end stay put."""
    lifetime = auth(stores).settings.jwt.refresh_family_lifetime_seconds
    pair = aged_pair(stores, lifetime - DAY)

    renewed = await auth(stores).refresh(pair.refresh_token)
    again = await auth(stores).refresh(renewed.refresh_token)

    started = pair.refresh_claims["fam_iat"]
    assert renewed.refresh_claims["fam_iat"] == started
    assert again.refresh_claims["fam_iat"] == started
    assert again.refresh_claims["exp"] <= started + lifetime


async def test_a_family_past_its_lifetime_is_refused_with_session_expired(
    stores: Stores,
) -> None:
    """However fresh the refresh token, an old family is 401 SESSION_EXPIRED."""
    lifetime = auth(stores).settings.jwt.refresh_family_lifetime_seconds
    pair = aged_pair(stores, lifetime + 1)

    with pytest.raises(SessionExpired, match="sign in again") as caught:
        await auth(stores).refresh(pair.refresh_token)

    assert (caught.value.status, caught.value.error_code) == (401, "SESSION_EXPIRED")


async def test_a_token_from_before_family_starts_were_signed_begins_its_clock(
    stores: Stores,
) -> None:
    """A refresh token without fam_iat rotates; the new pair dates from its iat."""
    keys, subject = auth(stores).keys, str(uuid.uuid4())
    legacy, claims = issue_token(keys, subject, ["user"], ttl_seconds=600,
                                 token_type="refresh", extra={"fam": "legacy"})

    renewed = await auth(stores).refresh(legacy)

    assert renewed.refresh_claims["fam_iat"] == claims["iat"]


@pytest.mark.parametrize("token", [
    pytest.param("not.a.jwt", id="garbage"),
    pytest.param("", id="empty"),
])
async def test_a_garbage_refresh_token_is_still_unauthorized(
    stores: Stores, token: str
) -> None:
    """Text that is no signed token is 401 UNAUTHORIZED, as before lifetimes."""
    with pytest.raises(Unauthorized) as caught:
        await auth(stores).refresh(token)

    assert caught.value.error_code == "UNAUTHORIZED"
