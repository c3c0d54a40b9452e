"""The tiers of the HTTP surface: who spends which allowance, and the 429."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentos.auth.tokens import issue_token
from agentos.pipeline.ratelimit.middleware import Surface, surface_of, tier_for
from agentos.services.base import CallContext, Principal
from tests.fixtures.app import AppMaker, RunningApp
from tests.fixtures.policies import write_policies

SMALL_TIERS = {
    "public": {"per": "ip", "limit": 3, "window_seconds": 60},
    "user": {"per": "user", "limit": 4, "window_seconds": 60},
    "admin_read": {"per": "user", "limit": 2, "window_seconds": 60},
    "admin_action": {"per": "user", "limit": 5, "window_seconds": 60},
}


@pytest.mark.parametrize(
    ("method", "path", "surface"),
    [
        pytest.param("GET", "/health", Surface.EXEMPT, id="health"),
        pytest.param("GET", "/docs/openapi.json", Surface.EXEMPT, id="docs"),
        pytest.param("OPTIONS", "/api/jobs/today", Surface.EXEMPT, id="preflight"),
        pytest.param("POST", "/api/admin/action", Surface.ADMIN_ACTION, id="action"),
        pytest.param("GET", "/api/admin/ssot", Surface.ADMIN_READ, id="ssot"),
        pytest.param(
            "GET", "/api/admin/action/status", Surface.ADMIN_READ, id="status"
        ),
        pytest.param("GET", "/health/", Surface.EXEMPT, id="health-slash"),
        pytest.param("GET", "/bench/bare", Surface.EXEMPT, id="bench"),
        pytest.param("GET", "/metricsx/y", Surface.API, id="not-metrics"),
        pytest.param("GET", "/api/health", Surface.API, id="health-deeper"),
        pytest.param("GET", "/healthz", Surface.API, id="not-health"),
        pytest.param("GET", "/api/jobs/today", Surface.API, id="user-api"),
        pytest.param("POST", "/api/admin/ssot", Surface.API, id="admin-write"),
    ],
)
def test_each_request_belongs_to_one_surface(
    method: str, path: str, surface: Surface
) -> None:
    """Probes and docs are exempt; admin reads and actions are told apart."""

    assert surface_of(method, path) is surface


@pytest.mark.parametrize(
    ("surface", "authenticated", "tier"),
    [
        pytest.param(Surface.API, False, "public", id="anonymous-api"),
        pytest.param(Surface.API, True, "user", id="user-api"),
        pytest.param(Surface.ADMIN_READ, True, "admin_read", id="admin-read"),
        pytest.param(Surface.ADMIN_READ, False, "public", id="anonymous-admin-read"),
        pytest.param(Surface.ADMIN_ACTION, True, None, id="action-is-the-pipelines"),
        pytest.param(Surface.EXEMPT, True, None, id="exempt"),
    ],
)
def test_the_tier_follows_the_surface_and_the_token(
    surface: Surface, authenticated: bool, tier: str | None
) -> None:
    """Without a valid token every limited surface counts as public."""

    assert tier_for(surface, authenticated) == tier


@pytest.fixture
async def small(make_app: AppMaker, tmp_path: Path) -> RunningApp:
    """A server whose tiers allow a handful of calls, without burst."""
    return await make_app(
        policies_dir=write_policies(tmp_path, rate_limits={"tiers": SMALL_TIERS})
    )


async def test_the_public_tier_refuses_the_call_after_its_limit(
    small: RunningApp,
) -> None:
    """Three anonymous calls a minute; the fourth is a 429 envelope."""
    answers = [await small.client.get("/") for _ in range(4)]

    refused = answers[-1]
    body = refused.json()
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert (body["success"], body["error_code"]) == (False, "RATE_LIMITED")
    assert 59 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Policy"] == '"public";q=3;w=60'
    assert refused.headers["RateLimit"].startswith('"public";r=0;')
    assert answers[0].headers["RateLimit"].startswith('"public";r=2;')


async def test_the_user_tier_counts_each_subject_apart(small: RunningApp) -> None:
    """Two users with tokens each have their own allowance."""
    alice, bob = small.auth("alice", "user"), small.auth("bob", "user")

    await small.client.get("/", headers=alice)
    second_alice = await small.client.get("/", headers=alice)
    first_bob = await small.client.get("/", headers=bob)

    assert second_alice.headers["RateLimit"].startswith('"user";r=2;')
    assert first_bob.headers["RateLimit"].startswith('"user";r=3;')


async def test_admin_reads_spend_the_admin_read_tier_before_the_route_runs(
    small: RunningApp,
) -> None:
    """GET /api/admin/ssot counts as admin_read; over it, the route is not reached."""
    headers = small.auth("ops", "admin")

    answers = [
        await small.client.get("/api/admin/ssot", headers=headers) for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"admin_read";q=2;w=60'
    assert "X-Cache" not in answers[2].headers


async def test_a_bad_token_is_counted_as_public_and_still_refused(
    small: RunningApp,
) -> None:
    """The route answers the token's failure; the call spent the public tier."""

    answer = await small.client.get(
        "/api/admin/ssot", headers={"Authorization": "Bearer not-a-token"}
    )

    assert answer.status_code == 401
    assert answer.headers["RateLimit"].startswith('"public";r=2;')


async def test_a_revoked_token_spends_the_public_tier_and_not_its_subjects(
    small: RunningApp,
) -> None:
    """Admission refuses the token in the round trip that would spend the
    subject's tier: the answer is 401, the public tier paid for it, and a
    valid token of the same subject then finds its tier untouched."""
    keys = small.app.ctx.token_keys
    revoked, claims = issue_token(keys, "dana", ["user"])
    operator = CallContext(principal=Principal("ops", ("admin",)))
    await small.services["auth"].revoke(operator, subject="dana", jti=claims["jti"])
    bearer = {"Authorization": f"Bearer {revoked}"}
    valid = small.auth("dana", "user")

    refused = await small.client.get("/api/jobs/today", headers=bearer)
    served = await small.client.get("/api/jobs/today", headers=valid)

    assert (refused.status_code, refused.json()["error_code"]) == (401, "TOKEN_REVOKED")
    assert refused.headers["RateLimit"].startswith('"public";r=2;')
    assert served.headers["RateLimit"].startswith('"user";r=3;')


async def test_probes_and_docs_are_never_limited(small: RunningApp) -> None:
    """Health checks keep answering, without rate-limit headers."""
    answers = [await small.client.get("/health") for _ in range(5)]

    assert {answer.status_code for answer in answers} == {200}
    assert all("RateLimit" not in answer.headers for answer in answers)


async def test_switched_off_nothing_is_limited(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """rate_limits_enabled: false lets every call through without headers."""
    app = await make_app(
        rate_limits_enabled=False,
        policies_dir=write_policies(tmp_path, rate_limits={"tiers": SMALL_TIERS}),
    )

    answers = [await app.client.get("/") for _ in range(5)]

    assert {answer.status_code for answer in answers} == {200}
    assert all("RateLimit" not in answer.headers for answer in answers)


async def test_a_tier_counted_per_address_counts_callers_with_tokens_by_address(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """A ``user`` tier set to ``per: ip`` counts the subjects of one address
    together and other addresses apart (its key is then not on the subject's
    hash tag, so admission and the tier go to the store one after the other)."""
    tiers = {**SMALL_TIERS, "user": {"per": "ip", "limit": 4, "window_seconds": 60}}
    app = await make_app(
        policies_dir=write_policies(
            tmp_path, access={"trusted_proxies": 1}, rate_limits={"tiers": tiers}
        )
    )

    async def get(subject: str, address: str) -> str:
        headers = {**app.auth(subject, "user"), "X-Forwarded-For": address}
        answer = await app.client.get("/api/jobs/today", headers=headers)
        assert answer.status_code == 200
        return str(answer.headers["RateLimit"])

    alice = await get("al", "203.0.113.1")
    bob_beside_her = await get("bo", "203.0.113.1")
    carol_elsewhere = await get("ca", "203.0.113.2")

    assert alice.startswith('"user";r=3;')
    assert bob_beside_her.startswith('"user";r=2;')
    assert carol_elsewhere.startswith('"user";r=3;')
