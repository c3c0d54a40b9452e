"""``/api/agents``: the HTTP contract on a running server, both backends.

Agents are arranged through the agents service with unique names, so no
test depends on another's rows; effects are observed through the read
endpoints.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentos.routes import agent_models as m
from agentos.services.base import SYSTEM, CallContext
from tests.fixtures.app import RunningApp
from tests.fixtures.jobs import CLIP_SCHEMA

ADMIN_CTX = CallContext(principal=SYSTEM)


async def new_agent(api: RunningApp) -> dict[str, Any]:
    """Register an agent of a type and kind of its own."""
    suffix = uuid.uuid4().hex[:8]
    return await api.services["agents"].register(
        ADMIN_CTX, name=f"agent-{suffix}", agent_type=f"type-{suffix}",
        job_kinds=[{"kind": f"test.cut{suffix}", "params_schema": CLIP_SCHEMA}],
    )


async def read_agent(api: RunningApp, ref: str) -> dict[str, Any]:
    response = await api.client.get(f"/api/agents/{ref}", headers=api.auth())
    assert response.status_code == 200, response.text
    return response.json()["data"]


# -- reads ---------------------------------------------------------------------


async def test_status_lists_every_agent_with_state_counts(api: RunningApp) -> None:
    """The seeded clipper and a new agent appear, each with its id."""
    agent = await new_agent(api)

    response = await api.client.get("/api/agents/status", headers=api.auth())

    data = m.AgentStatus.model_validate(response.json()["data"])
    names = {a.name: a.id for a in data.agents}
    assert response.status_code == 200
    assert names[agent["name"]] == agent["id"]
    assert "clipper" in names
    assert data.total == len(data.agents)
    assert sum(data.by_desired_state.values()) == data.total


async def test_one_agent_is_found_by_id_or_by_name(api: RunningApp) -> None:
    """The same agent answers under both references, with its job kinds."""
    agent = await new_agent(api)

    by_id, by_name = await read_agent(api, agent["id"]), await read_agent(
        api, agent["name"]
    )

    assert by_id == by_name
    assert m.AgentInfo.model_validate(by_id).job_kinds[0].params_schema == CLIP_SCHEMA


@pytest.mark.parametrize(
    ("ref", "status"),
    [
        pytest.param(str(uuid.uuid4()), 404, id="unknown-uuid"),
        pytest.param("no-such-agent", 404, id="unknown-name"),
        pytest.param("Bad%20Name", 400, id="not-a-uuid-or-name"),
        pytest.param("x" * 300, 400, id="overlong"),
    ],
)
async def test_a_bad_or_unknown_agent_reference_is_refused(
    api: RunningApp, ref: str, status: int
) -> None:
    """A reference that is neither id nor name is 400; an unknown one 404."""

    response = await api.client.get(f"/api/agents/{ref}", headers=api.auth())

    assert response.status_code == status
    assert response.json()["error_code"] == (
        "NOT_FOUND" if status == 404 else "VALIDATION_ERROR"
    )


async def test_health_shows_each_workers_heartbeat_age(api: RunningApp) -> None:
    """A worker that beat just now is healthy; one silent for minutes is dead."""
    agent = await new_agent(api)
    service = api.services["agents"]
    for worker in ("fresh", "silent"):
        await service.heartbeat(worker_id=f"{worker}-{agent['name']}",
                                agent_id=agent["id"], host="h", state="idle")
    await api.db.execute(
        "UPDATE workers SET last_heartbeat_at = $1 WHERE id = $2",
        datetime.now(UTC) - timedelta(minutes=5), f"silent-{agent['name']}",
    )

    response = await api.client.get("/api/agents/health", headers=api.auth())

    report = m.WorkersHealth.model_validate(response.json()["data"])
    mine = {w.id.split("-")[0]: w.health for w in report.workers
            if w.agent_id == agent["id"]}
    assert mine == {"fresh": "healthy", "silent": "dead"}
    assert report.status == "degraded"


async def test_performance_answers_per_agent_over_the_window(api: RunningApp) -> None:
    """Each agent has its figures; the window is the one asked for."""
    agent = await new_agent(api)

    response = await api.client.get(
        "/api/agents/performance?window_minutes=30", headers=api.auth()
    )

    report = m.AgentsPerformance.model_validate(response.json()["data"])
    assert report.window_minutes == 30
    assert agent["id"] in {a.id for a in report.agents}


@pytest.mark.parametrize("window", ["0", "-1", "1000000000", "abc", "1.5", "²", "-²"])
async def test_a_bad_window_is_refused(api: RunningApp, window: str) -> None:
    """window_minutes outside 1..10080 or not a whole number is 400."""

    response = await api.client.get(
        f"/api/agents/performance?window_minutes={window}", headers=api.auth()
    )

    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "window_minutes"


async def test_logs_are_paginated_and_filtered_by_level(api: RunningApp) -> None:
    """level=warning returns warnings and errors, newest first, one page."""
    agent = await new_agent(api)
    now = datetime.now(UTC)
    for minutes, level in enumerate(["info", "warning", "error", "debug"]):
        await api.db.execute(
            "INSERT INTO logs (ts, level, logger, message, agent_id, fields) "
            "VALUES ($1, $2, 'agentos.worker', $3, $4, $5)",
            now - timedelta(minutes=minutes), level, f"line {level}", agent["id"], {},
        )

    response = await api.client.get(
        f"/api/agents/logs/{agent['name']}?level=warning&per_page=1",
        headers=api.auth(),
    )

    body = response.json()
    assert response.status_code == 200
    assert [line["message"] for line in body["data"]] == ["line warning"]
    assert body["pagination"]["total"] == 2
    assert body["pagination"]["has_next"] is True
    m.AgentLogLine.model_validate(body["data"][0])


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("level=loud", id="unknown-level"),
        pytest.param("since=yesterday", id="bad-time"),
        pytest.param("per_page=101", id="per-page-over-max"),
        pytest.param("page=0", id="page-zero"),
        pytest.param("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
                     id="until-before-since"),
    ],
)
async def test_bad_log_filters_are_refused(api: RunningApp, query: str) -> None:
    """Every malformed filter is a 400 envelope."""
    agent = await new_agent(api)

    response = await api.client.get(
        f"/api/agents/logs/{agent['id']}?{query}", headers=api.auth()
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "VALIDATION_ERROR"


# -- control -------------------------------------------------------------------------


async def test_stop_and_start_change_what_the_agent_reads_back(api: RunningApp) -> None:
    """Stop is visible at once; stopping again is 409; start brings it back."""
    agent = await new_agent(api)

    stopped = await api.client.post(f"/api/agents/{agent['id']}/stop",
                                    headers=api.auth())
    after_stop = await read_agent(api, agent["id"])
    again = await api.client.post(f"/api/agents/{agent['id']}/stop",
                                  headers=api.auth())
    started = await api.client.post(f"/api/agents/{agent['name']}/start",
                                    headers=api.auth(None, "operator"))

    assert stopped.status_code == 200
    assert after_stop["desired_state"] == "stopped"
    assert again.status_code == 409
    assert again.json()["error_code"] == "CONFLICT"
    assert started.status_code == 200
    assert (await read_agent(api, agent["id"]))["desired_state"] == "running"


async def test_restart_without_a_body_restarts_every_agent(api: RunningApp) -> None:
    """Every agent's generation goes up by one."""
    first, second = await new_agent(api), await new_agent(api)

    response = await api.client.post("/api/agents/restart", headers=api.auth())

    assert response.status_code == 200
    for agent in (first, second):
        assert (await read_agent(api, agent["id"]))["generation"] == 1


async def test_restart_of_listed_agents_touches_only_them(api: RunningApp) -> None:
    """Only the named agent gets a new generation."""
    chosen, other = await new_agent(api), await new_agent(api)

    response = await api.client.post(
        "/api/agents/restart", json={"agent_ids": [chosen["name"]]},
        headers=api.auth(),
    )

    assert response.json()["data"]["restarted"] == 1
    assert (await read_agent(api, chosen["id"]))["generation"] == 1
    assert (await read_agent(api, other["id"]))["generation"] == 0


async def test_restart_naming_an_unknown_agent_restarts_nothing(
    api: RunningApp,
) -> None:
    """One unknown id in the list is 404 before any agent is touched."""
    agent = await new_agent(api)

    response = await api.client.post(
        "/api/agents/restart",
        json={"agent_ids": [agent["id"], str(uuid.uuid4())]}, headers=api.auth(),
    )

    assert response.status_code == 404
    assert (await read_agent(api, agent["id"]))["generation"] == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"agent_ids": []}, id="empty-list"),
        pytest.param({"agent_ids": "clipper"}, id="not-a-list"),
        pytest.param({"agents": ["clipper"]}, id="unknown-field"),
    ],
)
async def test_a_malformed_restart_body_is_refused(
    api: RunningApp, body: dict[str, Any]
) -> None:
    """A body that is present must be a valid restart request."""

    response = await api.client.post("/api/agents/restart", json=body,
                                     headers=api.auth())

    assert response.status_code == 400


# -- config --------------------------------------------------------------------------


async def test_agents_config_changes_are_validated_and_versioned(
    api: RunningApp,
) -> None:
    """A POST makes a new version that GET then answers."""
    before = (await api.client.get("/api/agents/config", headers=api.auth())).json()

    posted = await api.client.post(
        "/api/agents/config",
        json={"config": {"heartbeat_late_seconds": 25}, "comment": "slow disks"},
        headers=api.auth(),
    )
    after = (await api.client.get("/api/agents/config", headers=api.auth())).json()

    version = m.FleetConfigVersion.model_validate(after["data"])
    assert posted.status_code == 200
    assert version.version == before["data"]["version"] + 1
    assert version.document.heartbeat_late_seconds == 25
    assert version.comment == "slow disks"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"config": {"heartbeat_dead_seconds": 1}}, 400,
                     id="dead-not-after-late"),
        pytest.param({"config": {"surprise": 1}}, 400, id="unknown-setting"),
        pytest.param({"config": {}, "owner": "me"}, 400, id="unknown-field"),
        pytest.param({"config": "all"}, 400, id="config-not-an-object"),
        pytest.param({"config": {"max_concurrency": 2}, "base_version": 999}, 409,
                     id="stale-base-version"),
    ],
)
async def test_a_bad_agents_config_change_stores_nothing(
    api: RunningApp, body: dict[str, Any], status: int
) -> None:
    """Refused changes leave the current version as it was."""
    before = (await api.client.get("/api/agents/config", headers=api.auth())).json()

    response = await api.client.post("/api/agents/config", json=body,
                                      headers=api.auth())

    after = (await api.client.get("/api/agents/config", headers=api.auth())).json()
    assert response.status_code == status
    assert after["data"]["version"] == before["data"]["version"]


async def test_agents_config_reads_json_only(api: RunningApp) -> None:
    """A form body is 415, malformed JSON is 400 MALFORMED_JSON."""

    form = await api.client.post("/api/agents/config", data={"config": "x"},
                                 headers=api.auth())
    broken = await api.client.post(
        "/api/agents/config", content=b"{not json",
        headers={**api.auth(), "Content-Type": "application/json"},
    )

    assert form.status_code == 415
    assert broken.json()["error_code"] == "MALFORMED_JSON"


# -- queue ---------------------------------------------------------------------------


async def test_an_agents_queue_lists_and_clears_its_jobs(api: RunningApp) -> None:
    """Queued jobs of the agent's type are listed, then cancelled by clear."""
    agent = await new_agent(api)
    owner = str(uuid.uuid4())
    kind = agent["job_kinds"][0]["kind"]
    for _ in range(2):
        created = await api.client.post(
            "/api/jobs/create",
            json={"kind": kind, "params": {"start_ms": 0, "end_ms": 10}},
            headers=api.auth(owner, "user"),
        )
        assert created.status_code in {200, 201}, created.text

    listed = await api.client.get(f"/api/agents/queue/{agent['id']}?limit=10",
                                  headers=api.auth())
    cleared = await api.client.post(
        "/api/agents/clear-queue", json={"agent_id": agent["name"], "confirm": True},
        headers=api.auth(),
    )
    after = await api.client.get(f"/api/agents/queue/{agent['id']}",
                                 headers=api.auth())

    assert len(listed.json()["data"]["jobs"]) == 2
    assert cleared.json()["data"]["result"] == {"cancelled": 2}
    assert after.json()["data"]["jobs"] == []


@pytest.mark.parametrize("limit", ["0", "-1", "1000000000"])
async def test_a_bad_queue_limit_is_refused(api: RunningApp, limit: str) -> None:
    """limit must be 1..100."""

    response = await api.client.get(f"/api/agents/queue/clipper?limit={limit}",
                                    headers=api.auth())

    assert response.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"agent_id": "clipper"}, id="no-confirm"),
        pytest.param({"agent_id": "clipper", "confirm": False}, id="confirm-false"),
        pytest.param({"confirm": True}, id="no-agent"),
    ],
)
async def test_clearing_a_queue_needs_an_agent_and_confirmation(
    api: RunningApp, body: dict[str, Any]
) -> None:
    """Without confirm: true, or without an agent, nothing is cancelled."""

    response = await api.client.post("/api/agents/clear-queue", json=body,
                                     headers=api.auth())

    assert response.status_code == 400


# -- access --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        pytest.param("admin", 200, 200, id="admin"),
        pytest.param("operator", 200, 200, id="operator"),
        pytest.param("supervisor", 200, 403, id="supervisor"),
        pytest.param("readonly", 200, 403, id="readonly"),
        pytest.param("user", 403, 403, id="user"),
    ],
)
async def test_roles_read_and_control_agents_as_the_rules_say(
    api: RunningApp, role: str, read: int, write: int
) -> None:
    """Reads need a read-all role; control needs admin or operator."""
    agent = await new_agent(api)
    headers = api.auth(None, role)

    reading = await api.client.get("/api/agents/status", headers=headers)
    stopping = await api.client.post(f"/api/agents/{agent['id']}/stop",
                                     headers=headers)

    assert (reading.status_code, stopping.status_code) == (read, write)
    expected_state = "stopped" if write == 200 else "running"
    assert (await read_agent(api, agent["id"]))["desired_state"] == expected_state


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/agents/status"), ("GET", "/api/agents/clipper"),
        ("POST", "/api/agents/clipper/start"), ("POST", "/api/agents/clipper/stop"),
        ("POST", "/api/agents/restart"), ("GET", "/api/agents/performance"),
        ("GET", "/api/agents/health"), ("GET", "/api/agents/logs/clipper"),
        ("GET", "/api/agents/config"), ("POST", "/api/agents/config"),
        ("GET", "/api/agents/queue/clipper"), ("POST", "/api/agents/clear-queue"),
    ],
)
async def test_every_agents_route_needs_a_token(
    api: RunningApp, method: str, path: str
) -> None:
    """Without a bearer token each route is 401."""

    response = await api.client.request(method, path)

    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED"


async def test_the_agents_routes_are_documented_and_tagged(api: RunningApp) -> None:
    """All twelve routes are in the OpenAPI document under the agents tag."""

    document = (await api.client.get("/docs/openapi.json")).json()

    operations = {
        (method.upper(), path): op
        for path, item in document["paths"].items() if path.startswith("/api/agents")
        for method, op in item.items()
    }
    assert len(operations) == 12
    assert all(op["tags"] == ["agents"] for op in operations.values())
    assert all("200" in op["responses"] for op in operations.values())
    schemas = document["components"]["schemas"]
    assert {"AgentInfoEnvelope", "WorkersHealth", "FleetConfigUpdate"} <= set(schemas)
