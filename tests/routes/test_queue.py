"""``/api/queue`` over HTTP, on the embedded and on the real backends."""

from __future__ import annotations

import uuid

from tests.fixtures.app import RunningApp
from tests.fixtures.jobs import register_agent

PARAMS = {"start_ms": 0, "end_ms": 1000}


async def create(api: RunningApp, owner: str, kind: str, priority: int) -> str:
    """Create a job as ``owner`` and return its id."""
    response = await api.client.post(
        "/api/jobs/create",
        json={"kind": kind, "params": PARAMS, "priority": priority},
        headers=api.auth(owner, "user"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


async def test_status_shows_depth_per_type_and_priority(api: RunningApp) -> None:
    """Every role reads the depth of each agent type by priority."""
    agent = await register_agent(api.db)
    owner = str(uuid.uuid4())
    for priority in (9, 9, 3):
        await create(api, owner, agent["kind"], priority)

    response = await api.client.get("/api/queue/status",
                                    headers=api.auth(owner, "user"))

    data = response.json()["data"]
    assert response.status_code == 200
    assert data["paused"] is False and data["pause"] is None
    assert data["by_agent_type"][agent["agent_type"]] == {
        "total": 3, "by_priority": {"9": 2, "3": 1}
    }


async def test_details_list_the_line_in_dispatch_order(api: RunningApp) -> None:
    """Staff see the whole line; a user sees its own jobs with their places."""
    agent = await register_agent(api.db)
    me, other = str(uuid.uuid4()), str(uuid.uuid4())
    low = await create(api, me, agent["kind"], 1)
    high = await create(api, other, agent["kind"], 9)
    path = f"/api/queue/details?agent_type={agent['agent_type']}&limit=5"

    staff = await api.client.get(path, headers=api.auth(None, "readonly"))
    mine = await api.client.get(path, headers=api.auth(me, "user"))

    assert [j["id"] for j in staff.json()["data"]["jobs"]] == [high, low]
    assert [(j["id"], j["position"]) for j in mine.json()["data"]["jobs"]] == [(low, 2)]


async def test_stats_report_rates_and_waits(api: RunningApp) -> None:
    """Stats count what entered the queue in the window."""
    agent = await register_agent(api.db)
    for _ in range(2):
        await create(api, str(uuid.uuid4()), agent["kind"], 5)

    response = await api.client.get("/api/queue/stats?window_minutes=10",
                                    headers=api.auth())

    data = response.json()["data"]
    assert (data["enqueued"], data["dequeued"], data["window_minutes"]) == (2, 0, 10)
    assert data["enqueue_per_minute"] == 0.2
    assert data["wait_seconds"] == {"p50": None, "p95": None, "max": None}


async def test_pausing_through_the_service_shows_in_status(api: RunningApp) -> None:
    """A pause made by the queue.pause operation is visible to every reader."""
    from agentos.services.base import CallContext, Principal

    operator = CallContext(Principal(subject="ops", roles=("operator",)))
    await api.services["queue"].pause(operator, reason="maintenance window")

    response = await api.client.get("/api/queue/status",
                                    headers=api.auth(None, "readonly"))

    data = response.json()["data"]
    assert data["paused"] is True
    assert (data["pause"]["reason"], data["pause"]["by"]) == ("maintenance window",
                                                              "ops")


async def test_bad_queue_arguments_are_400s(api: RunningApp) -> None:
    """Limits and windows out of bounds are refused by name."""
    paths = ["/api/queue/details?limit=0", "/api/queue/details?limit=-1",
             "/api/queue/details?limit=101", "/api/queue/details?limit=1000000000",
             "/api/queue/details?agent_type=" + "t" * 65,
             "/api/queue/stats?window_minutes=0", "/api/queue/stats?window_minutes=x"]

    for path in paths:
        response = await api.client.get(path, headers=api.auth())

        assert response.status_code == 400, f"{path}: {response.text}"
        assert response.json()["error_code"] == "VALIDATION_ERROR"


async def test_queue_reads_need_a_token_and_a_known_role(api: RunningApp) -> None:
    """No token is 401; a token whose roles grant nothing is 403."""
    for path in ("/api/queue/status", "/api/queue/details", "/api/queue/stats"):
        anonymous = await api.client.get(path)
        stranger = await api.client.get(path, headers=api.auth(None, "guest"))

        assert anonymous.status_code == 401, path
        assert stranger.status_code == 403, path
