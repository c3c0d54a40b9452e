"""The six Jobs & Queue actions, run over HTTP and read back through the user API.

Each test arranges jobs through ``/api/jobs``, runs an action through
``POST /api/admin/action`` and observes the effect where users and agents
would: ``GET /api/jobs/{id}`` and ``GET /api/queue/status``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.fixtures.app import RunningApp
from tests.fixtures.jobs import register_agent

PARAMS = {"start_ms": 0, "end_ms": 1000}
ALICE, BOB, OPERATOR = (str(uuid.uuid4()) for _ in range(3))


@pytest.fixture
async def agent(api: RunningApp) -> dict[str, Any]:
    """An agent of a type of its own, declaring one job kind."""
    return await register_agent(api.db)


async def create_job(api: RunningApp, kind: str, owner: str = ALICE) -> dict[str, Any]:
    """A queued job of ``owner``, created through the user API."""
    response = await api.client.post(
        "/api/jobs/create",
        json={"kind": kind, "params": PARAMS},
        headers=api.auth(owner, "user"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def read_job(api: RunningApp, job_id: str) -> dict[str, Any]:
    """The job as the user API shows it to an admin."""
    response = await api.client.get(f"/api/jobs/{job_id}", headers=api.auth())
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


async def queue_status(api: RunningApp) -> dict[str, Any]:
    """``GET /api/queue/status`` as an admin reads it."""
    response = await api.client.get("/api/queue/status", headers=api.auth())
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


async def run(
    api: RunningApp,
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    subject: str = OPERATOR,
    role: str = "operator",
) -> Any:
    """``POST /api/admin/action`` as ``subject`` with ``role``."""
    body: dict[str, Any] = {"action": action}
    if payload is not None:
        body["payload"] = payload
    return await api.client.post(
        "/api/admin/action", json=body, headers=api.auth(subject, role)
    )


async def test_job_cancel_cancels_a_queued_job(
    api: RunningApp, agent: dict[str, Any]
) -> None:
    """The job reads back as cancelled, with the reason kept."""
    job = await create_job(api, agent["kind"])

    response = await run(
        api, "job.cancel", {"job_id": job["id"], "reason": "wrong file"}
    )

    assert response.status_code == 200, response.text
    after = await read_job(api, job["id"])
    assert after["status"] == "cancelled"
    assert "wrong file" in str(after.get("error"))


async def test_job_retry_queues_a_cancelled_job_with_one_more_attempt(
    api: RunningApp, agent: dict[str, Any]
) -> None:
    """A cancelled job returns to the queue; its attempts go up by one."""
    job = await create_job(api, agent["kind"])
    assert (await run(api, "job.cancel", {"job_id": job["id"]})).status_code == 200
    before = await read_job(api, job["id"])

    response = await run(api, "job.retry", {"job_id": job["id"]})

    assert response.status_code == 200, response.text
    after = await read_job(api, job["id"])
    assert after["status"] == "queued"
    assert after["attempts"] == before["attempts"] + 1


async def test_job_prioritize_changes_a_queued_jobs_priority(
    api: RunningApp, agent: dict[str, Any]
) -> None:
    """The new priority reads back; a bound breach is refused and changes nothing."""
    job = await create_job(api, agent["kind"])

    refused = await run(api, "job.prioritize", {"job_id": job["id"], "priority": 10})
    response = await run(api, "job.prioritize", {"job_id": job["id"], "priority": 9})

    assert refused.status_code == 400
    assert refused.json()["details"][0]["pointer"] == "/payload/priority"
    assert response.status_code == 200, response.text
    assert (await read_job(api, job["id"]))["priority"] == 9


async def test_queue_clear_needs_confirm_and_then_cancels_every_queued_job(
    api: RunningApp, agent: dict[str, Any]
) -> None:
    """Without confirm nothing moves; with it, every queued job of the type goes."""
    jobs = [await create_job(api, agent["kind"]) for _ in range(2)]
    scope = {"agent_type": agent["agent_type"]}

    unconfirmed = await run(api, "queue.clear", scope, role="admin")
    still = [await read_job(api, job["id"]) for job in jobs]
    cleared = await run(api, "queue.clear", {**scope, "confirm": True}, role="admin")

    assert unconfirmed.status_code == 400
    assert [d["pointer"] for d in unconfirmed.json()["details"]] == ["/payload/confirm"]
    assert {job["status"] for job in still} == {"queued"}
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["data"]["result"]["cancelled"] == 2
    assert {(await read_job(api, job["id"]))["status"] for job in jobs} == {"cancelled"}


async def test_queue_pause_and_resume_show_in_the_queue_status(api: RunningApp) -> None:
    """Pausing shows with its reason and author; resuming clears it."""
    paused = await run(api, "queue.pause", {"reason": "storage move"})
    while_paused = await queue_status(api)
    resumed = await run(api, "queue.resume")
    after = await queue_status(api)

    assert paused.status_code == 200 and resumed.status_code == 200
    assert while_paused["paused"] is True
    assert while_paused["pause"]["reason"] == "storage move"
    assert while_paused["pause"]["by"] == OPERATOR
    assert after["paused"] is False


async def test_a_user_cancels_their_own_job_but_not_another_users(
    api: RunningApp, agent: dict[str, Any]
) -> None:
    """The user role's own-only scope reaches the service: others' jobs are unseen."""
    mine = await create_job(api, agent["kind"], owner=ALICE)
    theirs = await create_job(api, agent["kind"], owner=BOB)

    own = await run(
        api, "job.cancel", {"job_id": mine["id"]}, subject=ALICE, role="user"
    )
    other = await run(
        api, "job.cancel", {"job_id": theirs["id"]}, subject=ALICE, role="user"
    )

    assert own.status_code == 200, own.text
    assert other.status_code == 404
    assert (await read_job(api, theirs["id"]))["status"] == "queued"


async def test_a_user_may_not_prioritize_even_their_own_job(
    api: RunningApp, agent: dict[str, Any]
) -> None:
    """job.prioritize is not granted to the user role: 403, priority unchanged."""
    job = await create_job(api, agent["kind"], owner=ALICE)

    response = await run(
        api,
        "job.prioritize",
        {"job_id": job["id"], "priority": 9},
        subject=ALICE,
        role="user",
    )

    assert response.status_code == 403
    assert response.json()["error_code"] == "FORBIDDEN"
    assert (await read_job(api, job["id"]))["priority"] == job["priority"]
