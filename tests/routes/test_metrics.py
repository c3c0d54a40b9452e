"""GET /metrics, who may read it, and the figures the SSOT analytics section shows."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from agentos import metrics
from tests.fixtures.app import AppMaker, RunningApp

SSOT = "/api/admin/ssot"


@pytest.fixture(autouse=True)
def fresh_figures() -> Iterator[None]:
    """Each test counts from zero in this process."""
    metrics.reset()
    yield
    metrics.reset()


@pytest.fixture
async def quiet(make_app: AppMaker) -> RunningApp:
    """A server without the background warmer."""
    return await make_app(ssot={"warmer_enabled": False})


def _value(exposition: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} (\S+)$", exposition, re.MULTILINE)
    assert match, f"no sample matches {pattern}"
    return float(match.group(1))


async def test_requests_are_counted_by_route_pattern_and_status(
    quiet: RunningApp
) -> None:
    """Requests show per route pattern and status; unknown paths count as unmatched."""
    for _ in range(3):
        await quiet.client.get("/health")
    await quiet.client.get("/no/such/path")
    await quiet.client.get("/no/other/path")

    response = await quiet.client.get("/metrics", headers=quiet.auth())

    text = response.text
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert _value(text, r'agentos_http_requests_total\{method="GET",'
                        r'route="/health",status="200"\}') == 3
    assert _value(text, r'agentos_http_requests_total\{method="GET",'
                        r'route="unmatched",status="404"\}') == 2
    assert "/no/such/path" not in text


async def test_error_rates_and_percentiles_are_exposed(quiet: RunningApp) -> None:
    """4xx share and latency percentiles of an endpoint appear as gauges."""
    await quiet.client.get(SSOT)
    await quiet.client.get(SSOT, headers=quiet.auth(None, "user"))
    await quiet.client.get(SSOT, headers=quiet.auth())
    await quiet.client.get(SSOT, headers=quiet.auth())

    text = (await quiet.client.get("/metrics", headers=quiet.auth())).text

    route = r'route="/api/admin/ssot"'
    errors = rf'agentos_http_error_ratio\{{class="4xx",method="GET",{route}\}}'
    assert _value(text, errors) == 0.5
    for q in ("0.5", "0.95", "0.99"):
        labels = rf'method="GET",quantile="{q}",{route}'
        assert _value(text, rf"agentos_http_latency_seconds\{{{labels}\}}") > 0
    throughput = rf'agentos_http_throughput_rps\{{method="GET",{route}\}}'
    assert _value(text, throughput) > 0


async def test_the_ssot_analytics_section_shows_the_same_figures(
    quiet: RunningApp
) -> None:
    """The analytics section reads the same request figures as /metrics."""
    for _ in range(4):
        await quiet.client.get("/health")
    metrics.record_action("job.cancel", "succeeded", 0.004)
    metrics.record_action("job.cancel", "refused", 0.001)

    body = (await quiet.client.get(SSOT, headers=quiet.auth())).json()
    text = (await quiet.client.get("/metrics", headers=quiet.auth())).text

    service = body["data"]["analytics"]["service"]
    health = next(e for e in service["endpoints"] if e["route"] == "/health")
    exposed = _value(text, r'agentos_http_requests_total\{method="GET",'
                           r'route="/health",status="200"\}')
    assert health["requests"] == exposed == 4
    (action,) = service["actions"]
    assert (action["action"], action["calls"], action["success_rate"]) == (
        "job.cancel", 2, 0.5,
    )


async def test_openapi_documents_the_ssot_document_and_metrics(
    quiet: RunningApp
) -> None:
    """The SSOT route's 200 answer refers to registered document components."""

    spec = (await quiet.client.get("/docs/openapi.json")).json()

    operation = spec["paths"]["/api/admin/ssot"]["get"]
    assert operation["tags"] == ["admin"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/SSOTDocumentEnvelope"}
    components = spec["components"]["schemas"]
    assert {"SSOTDocument", "Meta", "Dashboard", "Queue"} <= set(components)
    assert "meta" in components["SSOTDocument"]["required"]
    assert spec["paths"]["/metrics"]["get"]["tags"] == ["system"]
    assert not any(path.startswith("/bench") for path in spec["paths"])


async def test_the_bench_endpoint_exists_only_when_the_setting_is_on(
    make_app: AppMaker,
) -> None:
    """The bare benchmark endpoint is absent by default and undocumented when on."""
    default = await make_app(ssot={"warmer_enabled": False})
    bench = await make_app(ssot={"warmer_enabled": False, "bench_endpoint": True})

    missing = await default.client.get("/bench/ssot-bare", params={"size": "10"})
    present = await bench.client.get("/bench/ssot-bare", params={"size": "10"})
    spec = (await bench.client.get("/docs/openapi.json")).json()

    assert missing.status_code == 404
    assert (present.status_code, present.content) == (200, b"x" * 10)
    assert "/bench/ssot-bare" not in spec["paths"]


async def test_the_bench_endpoint_authenticates_when_asked(make_app: AppMaker) -> None:
    """With auth=1 the bare endpoint holds callers to the SSOT's token and roles."""
    bench = await make_app(ssot={"warmer_enabled": False, "bench_endpoint": True})
    params = {"size": "4", "auth": "1"}

    anonymous = await bench.client.get("/bench/ssot-bare", params=params)
    user = await bench.client.get(
        "/bench/ssot-bare", params=params, headers=bench.auth(None, "user")
    )
    reader = await bench.client.get(
        "/bench/ssot-bare", params=params, headers=bench.auth(None, "readonly")
    )

    assert (anonymous.status_code, user.status_code) == (401, 403)
    assert (reader.status_code, reader.content) == (200, b"xxxx")


async def test_the_gated_bench_endpoint_spends_the_admin_read_tier(
    make_app: AppMaker,
) -> None:
    """Under /api/admin/ the bare bytes pass the admin read gate like the SSOT."""
    bench = await make_app(ssot={"warmer_enabled": False, "bench_endpoint": True})
    params = {"size": "4", "auth": "1"}

    gated = await bench.client.get(
        "/api/admin/bench/ssot-bare", params=params, headers=bench.auth(None, "admin")
    )
    ungated = await bench.client.get(
        "/bench/ssot-bare", params=params, headers=bench.auth(None, "admin")
    )
    spec = (await bench.client.get("/docs/openapi.json")).json()

    assert (gated.status_code, gated.content) == (200, b"xxxx")
    assert "admin_read" in gated.headers["RateLimit-Policy"]
    assert "RateLimit-Policy" not in ungated.headers
    assert "/api/admin/bench/ssot-bare" not in spec["paths"]


# -- who may read ------------------------------------------------------------


@pytest.mark.parametrize(
    "roles",
    [
        pytest.param(("admin",), id="admin"),
        pytest.param(("operator",), id="operator"),
        pytest.param(("supervisor",), id="supervisor"),
        pytest.param(("readonly",), id="readonly"),
        pytest.param(("user", "readonly"), id="user-and-readonly"),
    ],
)
async def test_a_token_of_an_admin_read_role_reads_the_metrics(
    quiet: RunningApp, roles: tuple[str, ...]
) -> None:
    """Each role that reads everything gets the exposition."""

    response = await quiet.client.get("/metrics", headers=quiet.auth(None, *roles))

    assert response.status_code == 200
    assert "agentos_http_requests_total" in response.text


@pytest.mark.parametrize(
    ("headers", "status", "error_code"),
    [
        pytest.param({}, 401, "UNAUTHORIZED", id="no-token"),
        pytest.param(
            {"Authorization": "Bearer not-a-token"}, 401, "UNAUTHORIZED", id="garbage"
        ),
        pytest.param({"Authorization": "Basic cHJvbTpwcm9t"}, 401, "UNAUTHORIZED",
                     id="basic-auth"),
    ],
)
async def test_a_scrape_without_a_valid_token_is_401_in_the_envelope(
    quiet: RunningApp, headers: dict[str, str], status: int, error_code: str
) -> None:
    """No figures leave without a valid bearer token; the answer is the envelope."""

    response = await quiet.client.get("/metrics", headers=headers)

    body = response.json()
    assert response.status_code == status
    assert body["error_code"] == error_code
    assert "agentos_" not in response.text


async def test_an_expired_token_is_refused(quiet: RunningApp) -> None:
    """A token past its lifetime is a 401 TOKEN_EXPIRED, not a scrape."""
    token = quiet.token(None, "admin", ttl=-60)

    response = await quiet.client.get(
        "/metrics", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401
    assert response.json()["error_code"] == "TOKEN_EXPIRED"


async def test_a_token_of_a_plain_user_is_403(quiet: RunningApp) -> None:
    """The user role reads only its own things, so not the service's figures."""

    response = await quiet.client.get("/metrics", headers=quiet.auth(None, "user"))

    assert response.status_code == 403
    assert response.json()["error_code"] == "FORBIDDEN"
    assert "agentos_" not in response.text


async def test_with_require_auth_off_anyone_reads_the_metrics(
    make_app: AppMaker,
) -> None:
    """metrics.require_auth false keeps the old, open behaviour."""
    running = await make_app(
        ssot={"warmer_enabled": False}, metrics={"require_auth": False}
    )

    anonymous = await running.client.get("/metrics")
    garbage = await running.client.get(
        "/metrics", headers={"Authorization": "Bearer not-a-token"}
    )

    assert anonymous.status_code == 200
    assert "agentos_http_requests_total" in anonymous.text
    assert garbage.status_code == 200
