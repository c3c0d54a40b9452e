"""``POST /api/auth/refresh`` on a running server, both backends."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from agentos.routes.auth import TokenPairOut
from agentos.services.auth import TokenPair
from tests.fixtures.app import RunningApp


def first_pair(api: RunningApp, *roles: str) -> TokenPair:
    """The first pair of a new family, as a sign-in would issue it."""
    return api.services["auth"].issue_pair(str(uuid.uuid4()), list(roles or ["user"]))


async def refresh(api: RunningApp, token: str) -> Any:
    return await api.client.post("/api/auth/refresh", json={"refresh_token": token})


async def test_a_refresh_returns_a_working_pair(api: RunningApp) -> None:
    """The new access token opens the API; the new refresh token rotates again."""
    pair = first_pair(api, "readonly")

    response = await refresh(api, pair.refresh_token)
    renewed = TokenPairOut.model_validate(response.json()["data"])
    bearer = {"Authorization": f"Bearer {renewed.access_token}"}
    status = await api.client.get("/api/agents/status", headers=bearer)
    again = await refresh(api, renewed.refresh_token)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert renewed.family_id == pair.family_id
    assert renewed.id != pair.refresh_claims["jti"]
    assert status.status_code == 200
    assert again.status_code == 200


async def test_using_a_refresh_token_twice_revokes_its_family(api: RunningApp) -> None:
    """The replay is 401 TOKEN_REVOKED, and the family's newest token dies too."""
    pair = first_pair(api)
    newer = (await refresh(api, pair.refresh_token)).json()["data"]

    replay = await refresh(api, pair.refresh_token)
    after = await refresh(api, newer["refresh_token"])

    assert replay.status_code == 401
    assert replay.json()["error_code"] == "TOKEN_REVOKED"
    assert after.json()["error_code"] == "TOKEN_REVOKED"


DAY = 86_400


async def test_a_session_older_than_its_lifetime_cannot_be_renewed(
    api: RunningApp,
) -> None:
    """Inside the family's lifetime a refresh works; past it, 401 SESSION_EXPIRED."""
    lifetime = api.settings.jwt.refresh_family_lifetime_seconds
    auth, subject = api.services["auth"], str(uuid.uuid4())
    young = auth.issue_pair(subject, ["user"],
                            family_started=int(time.time()) - lifetime + DAY)
    old = auth.issue_pair(subject, ["user"],
                          family_started=int(time.time()) - lifetime - 60)

    renewed = await refresh(api, young.refresh_token)
    refused = await refresh(api, old.refresh_token)

    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["data"]["refresh_expires_in"] <= DAY
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "SESSION_EXPIRED"
    assert "sign in again" in refused.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"refresh_token": "not.a.jwt"}, 401, "UNAUTHORIZED", id="garbage"),
        pytest.param({"refresh_token": ""}, 400, "VALIDATION_ERROR", id="empty"),
        pytest.param({}, 400, "VALIDATION_ERROR", id="missing"),
        pytest.param({"refresh_token": "x", "sub": "admin"}, 400, "VALIDATION_ERROR",
                     id="extra-field"),
    ],
)
async def test_a_bad_refresh_request_is_refused(
    api: RunningApp, body: dict[str, Any], status: int, code: str
) -> None:
    """Malformed bodies are 400; a token that does not verify is 401."""

    response = await api.client.post("/api/auth/refresh", json=body)

    assert response.status_code == status
    assert response.json()["error_code"] == code


async def test_an_access_token_cannot_be_used_to_refresh(api: RunningApp) -> None:
    """Only refresh tokens rotate; an access token is 401."""
    pair = first_pair(api)

    response = await refresh(api, pair.access_token)

    assert response.status_code == 401


async def test_the_refresh_route_is_documented(api: RunningApp) -> None:
    """The route is tagged auth and documents its body and its 401."""

    document = (await api.client.get("/docs/openapi.json")).json()

    operation = document["paths"]["/api/auth/refresh"]["post"]
    assert operation["tags"] == ["auth"]
    assert {"200", "400", "401"} <= set(operation["responses"])
    assert "application/json" in operation["requestBody"]["content"]
