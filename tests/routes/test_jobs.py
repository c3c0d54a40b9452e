"""``/api/jobs`` over HTTP, on the embedded and on the real backends."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.fixtures.app import RunningApp
from tests.fixtures.jobs import register_agent

PARAMS = {"start_ms": 0, "end_ms": 1000}


def new_user() -> str:
    """A fresh user id."""
    return str(uuid.uuid4())


async def create(
    api: RunningApp, owner: str, kind: str, **body: Any
) -> dict[str, Any]:
    """Create a job as ``owner`` (role user) and return it."""
    response = await api.client.post(
        "/api/jobs/create", json={"kind": kind, "params": PARAMS, **body},
        headers=api.auth(owner, "user"),
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def get_job(api: RunningApp, job_id: str) -> dict[str, Any]:
    """The job as an admin reads it."""
    response = await api.client.get(f"/api/jobs/{job_id}", headers=api.auth())
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def report(api: RunningApp, job_id: str, **body: Any) -> Any:
    """A worker's status report, sent with an operator token."""
    return await api.client.post(
        f"/api/jobs/{job_id}/status", json=body, headers=api.auth(None, "operator")
    )


async def running_job(api: RunningApp, owner: str, kind: str) -> dict[str, Any]:
    """A job of ``owner`` that a worker has started."""
    job = await create(api, owner, kind)
    response = await report(api, job["id"], status="running", worker_id="w-1")
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.fixture
async def kind(api: RunningApp) -> str:
    """A job kind of its own, declared by a fresh agent."""
    agent = await register_agent(api.db)
    return str(agent["kind"])


# -- create -----------------------------------------------------------------


async def test_created_job_is_readable_and_waits_in_the_queue(
    api: RunningApp, kind: str
) -> None:
    """A created job answers 201, reads back queued and shows in the line."""
    owner = new_user()

    job = await create(api, owner, kind, priority=8)

    stored = await get_job(api, job["id"])
    assert stored["status"] == "queued"
    assert (stored["owner_id"], stored["priority"], stored["kind"]) == (
        owner, 8, kind)
    assert stored["created_at"].endswith("Z")
    line = await api.client.get("/api/queue/details", headers=api.auth())
    assert job["id"] in [entry["id"] for entry in line.json()["data"]["jobs"]]


SERVICE_SET = [
    ("owner", {"owner_id": str(uuid.uuid4())}),
    ("status", {"status": "succeeded"}),
    ("attempts", {"attempts": 0}),
    ("id-and-worker", {"id": str(uuid.uuid4()), "worker_id": "w"}),
]


async def test_fields_the_service_sets_are_refused(api: RunningApp, kind: str) -> None:
    """Sending a field only the service sets is a 400 naming it; nothing stored."""
    owner = new_user()

    for case, extra in SERVICE_SET:
        response = await api.client.post(
            "/api/jobs/create", json={"kind": kind, "params": PARAMS, **extra},
            headers=api.auth(owner, "user"),
        )

        body = response.json()
        assert response.status_code == 400, case
        assert body["error_code"] == "VALIDATION_ERROR", case
        assert {d["pointer"] for d in body["details"]} == {f"/{k}" for k in extra}
    mine = await api.client.get(f"/api/jobs/user/{owner}", headers=api.auth())
    assert mine.json()["pagination"]["total"] == 0


BAD_BODIES = [
    ("kind-missing", {"params": PARAMS}, "/kind"),
    ("priority-too-high", {"params": PARAMS, "priority": 10}, "/priority"),
    ("priority-as-text", {"params": PARAMS, "priority": "5"}, "/priority"),
    ("param-of-wrong-type", {"params": {"start_ms": "0", "end_ms": 1}},
     "/params/start_ms"),
    ("unknown-field", {"params": PARAMS, "colour": "red"}, "/colour"),
    ("unknown-kind", {"kind": "no.such.kind", "params": PARAMS}, "/kind"),
    ("params-not-object", {"params": [1, 2]}, "/params"),
    ("upload-id-not-a-uuid", {"params": PARAMS, "upload_id": "abc"}, None),
]


async def test_bad_create_bodies_are_400s(api: RunningApp, kind: str) -> None:
    """Each bad body is a 400 whose details point at the fault."""
    headers = api.auth(new_user(), "user")

    for case, body, pointer in BAD_BODIES:
        sent = {"kind": kind, **body} if case != "kind-missing" else body
        response = await api.client.post("/api/jobs/create", json=sent,
                                          headers=headers)

        assert response.status_code == 400, f"{case}: {response.text}"
        pointers = [d.get("pointer") for d in response.json()["details"]]
        assert pointer is None or pointer in pointers, f"{case}: {pointers}"


async def test_create_needs_json(api: RunningApp, kind: str) -> None:
    """A body that is not JSON is a 400 MALFORMED_JSON; no content type a 415."""
    headers = api.auth(new_user(), "user")

    broken = await api.client.post(
        "/api/jobs/create", content=b'{"kind": ',
        headers={**headers, "Content-Type": "application/json"},
    )
    untyped = await api.client.post("/api/jobs/create", content=b"x", headers=headers)

    assert broken.json()["error_code"] == "MALFORMED_JSON"
    assert untyped.status_code == 415


async def test_who_may_create_jobs(api: RunningApp, kind: str) -> None:
    """Users, operators and admins create jobs; readonly and supervisors do not."""
    table = [((), 401), (("readonly",), 403), (("supervisor",), 403),
             (("operator",), 201), (("user",), 201)]

    for roles, status in table:
        headers = api.auth(new_user(), *roles) if roles else {}
        response = await api.client.post(
            "/api/jobs/create", json={"kind": kind, "params": PARAMS}, headers=headers
        )

        assert response.status_code == status, f"{roles}: {response.text}"


# -- read -------------------------------------------------------------------


async def test_a_user_gets_404_for_another_users_job(
    api: RunningApp, kind: str
) -> None:
    """Another user's job, its clips and its owner's list answer 404."""
    owner, stranger = new_user(), new_user()
    job = await create(api, owner, kind)
    headers = api.auth(stranger, "user")

    answers = [
        await api.client.get(f"/api/jobs/{job['id']}", headers=headers),
        await api.client.get(f"/api/jobs/{job['id']}/clips", headers=headers),
        await api.client.get(f"/api/jobs/user/{owner}", headers=headers),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert {a.json()["error_code"] for a in answers} == {"NOT_FOUND"}
    own = await api.client.get(f"/api/jobs/{job['id']}",
                               headers=api.auth(owner, "user"))
    assert own.status_code == 200


async def test_a_subject_that_is_no_user_id_creates_and_reads_its_jobs(
    api: RunningApp, kind: str
) -> None:
    """'ops-alice' creates, reads and lists her job; another subject gets 404."""
    alice = f"ops-alice-{uuid.uuid4().hex[:6]}"
    bob = f"bench-admin-{uuid.uuid4().hex[:6]}"
    mine, theirs = api.auth(alice, "user"), api.auth(bob, "user")

    job = await create(api, alice, kind)
    one = await api.client.get(f"/api/jobs/{job['id']}", headers=mine)
    listed = await api.client.get(f"/api/jobs/user/{alice}", headers=mine)
    history = await api.client.get("/api/jobs/history", headers=mine)
    hidden = [
        await api.client.get(f"/api/jobs/{job['id']}", headers=theirs),
        await api.client.get(f"/api/jobs/user/{alice}", headers=theirs),
    ]
    bobs = await api.client.get("/api/jobs/history", headers=theirs)

    assert job["owner_id"] == alice
    assert one.status_code == 200 and one.json()["data"]["owner_id"] == alice
    assert [j["id"] for j in listed.json()["data"]] == [job["id"]]
    assert [j["id"] for j in history.json()["data"]] == [job["id"]]
    assert [r.status_code for r in hidden] == [404, 404]
    assert bobs.json()["data"] == []


async def test_readonly_reads_every_users_jobs(api: RunningApp, kind: str) -> None:
    """A readonly caller reads any job and any user's list."""
    owner = new_user()
    job = await create(api, owner, kind)
    headers = api.auth(new_user(), "readonly")

    one = await api.client.get(f"/api/jobs/{job['id']}", headers=headers)
    listed = await api.client.get(f"/api/jobs/user/{owner}", headers=headers)

    assert one.status_code == 200
    assert [j["id"] for j in listed.json()["data"]] == [job["id"]]


async def test_non_uuid_ids_are_400s(api: RunningApp) -> None:
    """An id that is no UUID is a VALIDATION_ERROR, for reads and writes."""
    requests = [
        ("GET", "/api/jobs/not-a-uuid"),
        ("GET", "/api/jobs/123/clips"),
        ("POST", "/api/jobs/%2e%2e/cancel"),
        ("POST", "/api/jobs/1' OR '1'='1/retry"),
    ]

    for method, path in requests:
        response = await api.client.request(method, path, headers=api.auth())

        assert response.status_code == 400, f"{path}: {response.text}"
        assert response.json()["error_code"] == "VALIDATION_ERROR"


async def test_a_user_id_is_any_subject_up_to_255_characters(api: RunningApp) -> None:
    """/api/jobs/user/<id> takes any subject; one over 255 characters is a 400."""
    named = await api.client.get("/api/jobs/user/alice", headers=api.auth())
    long = await api.client.get(f"/api/jobs/user/{'a' * 256}", headers=api.auth())

    assert named.status_code == 200 and named.json()["data"] == []
    assert long.status_code == 400
    assert long.json()["error_code"] == "VALIDATION_ERROR"
    assert "255" in long.json()["error"]


async def test_history_filters_sorts_and_pages(api: RunningApp, kind: str) -> None:
    """History narrows by status, sorts by priority and pages with totals."""
    owner = new_user()
    for priority in (1, 7, 4):
        await create(api, owner, kind, priority=priority)
    failed = await running_job(api, owner, kind)
    await report(api, failed["id"], status="failed", error="boom", worker_id="w-1")
    headers = api.auth(owner, "user")

    queued = await api.client.get(
        "/api/jobs/history?status=queued&sort=-priority&per_page=2", headers=headers
    )
    by_status = await api.client.get("/api/jobs/status/failed", headers=headers)

    body = queued.json()
    assert queued.status_code == 200, queued.text
    assert [job["priority"] for job in body["data"]] == [7, 4]
    assert body["pagination"] == {"page": 1, "per_page": 2, "total": 3,
                                  "total_pages": 2, "has_next": True,
                                  "has_prev": False}
    assert [job["id"] for job in by_status.json()["data"]] == [failed["id"]]


async def test_bad_history_arguments_are_400s(api: RunningApp) -> None:
    """Every bad filter or page argument is a 400 naming it."""
    queries = ["status=done", "per_page=101", "per_page=0", "page=-1", "page=abc",
               "sort=password", "since=tomorrow", "per_page=1000000000",
               "page=" + "9" * 5000, "per_page=" + "0" * 4400 + "5"]

    for query in queries:
        response = await api.client.get(f"/api/jobs/history?{query}",
                                        headers=api.auth())

        assert response.status_code == 400, f"{query}: {response.text}"
        assert response.json()["error_code"] == "VALIDATION_ERROR"


async def test_unknown_status_in_the_path_is_400(api: RunningApp) -> None:
    """``/status/{status}`` knows the five statuses only."""
    response = await api.client.get("/api/jobs/status/finished", headers=api.auth())

    assert response.status_code == 400
    assert "queued, running" in response.json()["error"]


async def test_recent_limit_out_of_bounds_is_400(api: RunningApp) -> None:
    """``/recent/{limit}`` takes 1 to 100."""
    for limit in ["0", "-1", "1000000000", "abc", "2.5", "101", "\u0662"]:
        response = await api.client.get(f"/api/jobs/recent/{limit}",
                                        headers=api.auth())

        assert response.status_code == 400, f"{limit}: {response.text}"
        assert response.json()["details"][0]["field"] == "limit"


async def test_recent_today_and_summary(api: RunningApp, kind: str) -> None:
    """The newest jobs come first; today and the summary count them."""
    owner = new_user()
    jobs = [await create(api, owner, kind) for _ in range(3)]
    headers = api.auth(owner, "user")

    recent = await api.client.get("/api/jobs/recent/2", headers=headers)
    today = await api.client.get("/api/jobs/today", headers=headers)
    summary = await api.client.get("/api/jobs/summary/stats", headers=headers)

    assert [j["id"] for j in recent.json()["data"]["jobs"]] == [
        jobs[2]["id"], jobs[1]["id"]]
    assert today.json()["data"]["counts"]["queued"] == 3
    assert today.json()["pagination"]["total"] == 3
    assert summary.json()["data"]["by_kind"] == {kind: 3}


# -- cancel and retry ---------------------------------------------------------


async def test_a_user_cancels_its_own_job(api: RunningApp, kind: str) -> None:
    """The owner's cancel is stored with its reason and the job leaves the line."""
    owner = new_user()
    job = await create(api, owner, kind)

    response = await api.client.post(
        f"/api/jobs/{job['id']}/cancel", json={"reason": "wrong file"},
        headers=api.auth(owner, "user"),
    )

    assert response.status_code == 200
    stored = await get_job(api, job["id"])
    assert (stored["status"], stored["error"]) == ("cancelled", "wrong file")
    line = await api.client.get("/api/queue/details", headers=api.auth())
    assert job["id"] not in [entry["id"] for entry in line.json()["data"]["jobs"]]


async def test_who_may_cancel_a_job(api: RunningApp, kind: str) -> None:
    """Supervisors and operators cancel any job; readonly and strangers cannot."""
    table = [("readonly", 403, "queued"), ("user", 404, "queued"),
             ("supervisor", 200, "cancelled"), ("operator", 200, "cancelled")]

    for role, status, after in table:
        job = await create(api, new_user(), kind)
        response = await api.client.post(
            f"/api/jobs/{job['id']}/cancel", headers=api.auth(new_user(), role)
        )

        assert response.status_code == status, f"{role}: {response.text}"
        assert (await get_job(api, job["id"]))["status"] == after, role


async def test_cancelling_a_finished_job_is_409(api: RunningApp, kind: str) -> None:
    """A succeeded job cannot be cancelled, and stays succeeded."""
    owner = new_user()
    job = await running_job(api, owner, kind)
    await report(api, job["id"], status="succeeded", worker_id="w-1")

    response = await api.client.post(
        f"/api/jobs/{job['id']}/cancel", headers=api.auth(owner, "user")
    )

    assert response.status_code == 409
    assert response.json()["error_code"] == "CONFLICT"
    assert (await get_job(api, job["id"]))["status"] == "succeeded"


async def test_two_concurrent_cancels_make_one_transition(
    api: RunningApp, kind: str
) -> None:
    """Two cancels sent at once: one 200, one 409, one stored reason."""
    owner = new_user()
    job = await create(api, owner, kind)
    url = f"/api/jobs/{job['id']}/cancel"

    first, second = await asyncio.gather(
        api.client.post(url, json={"reason": "a"}, headers=api.auth(owner, "user")),
        api.client.post(url, json={"reason": "b"}, headers=api.auth(None, "operator")),
    )

    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner = first if first.status_code == 200 else second
    stored = await get_job(api, job["id"])
    assert stored["error"] == winner.json()["data"]["error"]
    assert stored["updated_at"] == winner.json()["data"]["updated_at"]


async def test_retry_requeues_a_failed_job(api: RunningApp, kind: str) -> None:
    """A retried job is queued again with one more attempt, for its owner too."""
    owner = new_user()
    job = await running_job(api, owner, kind)
    await report(api, job["id"], status="failed", error="disk", worker_id="w-1")

    response = await api.client.post(
        f"/api/jobs/{job['id']}/retry", headers=api.auth(owner, "user")
    )

    assert response.status_code == 200
    stored = await get_job(api, job["id"])
    assert (stored["status"], stored["attempts"]) == ("queued", 1)
    assert stored["error"] is None


async def test_retry_refusals(api: RunningApp, kind: str) -> None:
    """Readonly may not retry; a queued job cannot be retried by anyone."""
    job = await create(api, new_user(), kind)

    for role, status in [("readonly", 403), ("supervisor", 409), ("user", 404)]:
        response = await api.client.post(
            f"/api/jobs/{job['id']}/retry", headers=api.auth(new_user(), role)
        )

        assert response.status_code == status, f"{role}: {response.text}"
    assert (await get_job(api, job["id"]))["attempts"] == 0


# -- status reports -----------------------------------------------------------


async def test_worker_reports_progress_then_success_with_clips(
    api: RunningApp, kind: str
) -> None:
    """Reports move the job; its clips are readable from both clip endpoints."""
    owner = new_user()
    job = await running_job(api, owner, kind)
    clip = {"path": "out/c1.mp4", "start_ms": 0, "end_ms": 500, "size_bytes": 9,
            "sha256": "f" * 64}

    progress = await report(api, job["id"], status="running", progress=0.25,
                            worker_id="w-1")
    done = await report(api, job["id"], status="succeeded", result={"n": 1},
                        worker_id="w-1", clips=[clip])

    assert progress.json()["data"]["progress"] == 0.25
    assert done.status_code == 200
    headers = api.auth(owner, "user")
    listed = await api.client.get(f"/api/jobs/{job['id']}/clips", headers=headers)
    clip_id = listed.json()["data"][0]["id"]
    one = await api.client.get(f"/api/clips/{clip_id}", headers=headers)
    assert one.json()["data"]["path"] == "out/c1.mp4"
    assert one.json()["data"]["job_id"] == job["id"]


ILLEGAL_REPORTS = [
    ("queued", {"status": "succeeded"}),
    ("queued", {"status": "queued"}),
    ("succeeded", {"status": "running"}),
    ("succeeded", {"status": "failed"}),
    ("running", {"status": "queued"}),
    ("running", {"status": "succeeded", "worker_id": "w-2"}),
]


async def _job_at(api: RunningApp, kind: str, status: str) -> dict[str, Any]:
    job = await create(api, new_user(), kind)
    for step in ("running", "succeeded"):
        if job["status"] == status:
            break
        answer = await report(api, job["id"], status=step, worker_id="w-1")
        job = answer.json()["data"]
    return job


async def test_illegal_status_reports_are_409(api: RunningApp, kind: str) -> None:
    """A report the lifecycle does not allow is a 409 and changes nothing."""
    for status, body in ILLEGAL_REPORTS:
        job = await _job_at(api, kind, status)

        response = await report(api, job["id"], **body)

        assert response.status_code == 409, f"{status} {body}: {response.text}"
        stored = await get_job(api, job["id"])
        assert (stored["status"], stored["updated_at"]) == (
            job["status"], job["updated_at"])


MALFORMED_REPORTS = [
    {"status": "finished"},
    {"status": "running", "progress": 1.5},
    {"status": "running", "progress": -0.1},
    {"status": "running", "progress": "half"},
    {"status": "running", "worker_id": "a b"},
    {"status": "failed", "clips": [{"path": "../x"}]},
    {"status": "running", "result": [1]},
    {"progress": 0.5},
]


async def test_malformed_reports_are_400(api: RunningApp, kind: str) -> None:
    """Bad report bodies are refused before any state is read or changed."""
    job = await create(api, new_user(), kind)

    for body in MALFORMED_REPORTS:
        response = await report(api, job["id"], **body)

        assert response.status_code == 400, f"{body}: {response.text}"
    assert (await get_job(api, job["id"]))["updated_at"] == job["updated_at"]


async def test_only_operators_and_admins_report_status(
    api: RunningApp, kind: str
) -> None:
    """Status reports come from the accounts agents run under."""
    owner = new_user()
    job = await create(api, owner, kind)

    for role in ("user", "readonly", "supervisor"):
        response = await api.client.post(
            f"/api/jobs/{job['id']}/status", json={"status": "running"},
            headers=api.auth(owner, role),
        )

        assert response.status_code == 403, role
    assert (await get_job(api, job["id"]))["status"] == "queued"


# -- documentation ------------------------------------------------------------

DOCUMENTED = {
    ("get", "/api/jobs/today"): "jobs",
    ("get", "/api/jobs/history"): "jobs",
    ("get", "/api/jobs/{job_id}"): "jobs",
    ("get", "/api/jobs/{job_id}/clips"): "jobs",
    ("post", "/api/jobs/{job_id}/retry"): "jobs",
    ("get", "/api/jobs/status/{status}"): "jobs",
    ("get", "/api/jobs/summary/stats"): "jobs",
    ("get", "/api/jobs/recent/{limit}"): "jobs",
    ("post", "/api/jobs/create"): "jobs",
    ("post", "/api/jobs/{job_id}/cancel"): "jobs",
    ("post", "/api/jobs/{job_id}/status"): "jobs",
    ("get", "/api/jobs/user/{user_id}"): "jobs",
    ("get", "/api/queue/status"): "queue",
    ("get", "/api/queue/details"): "queue",
    ("get", "/api/queue/stats"): "queue",
    ("get", "/api/clips/recent"): "clips",
    ("get", "/api/clips/{clip_id}"): "clips",
    ("get", "/api/analytics/metrics"): "analytics",
}


async def test_every_route_here_is_documented_with_tag_and_schemas(
    api: RunningApp,
) -> None:
    """The 18 routes are in a valid OpenAPI document, tagged, with $ref schemas."""
    from openapi_spec_validator import validate

    document = (await api.client.get("/docs/openapi.json")).json()

    validate(document)
    for (method, path), tag in DOCUMENTED.items():
        operation = document["paths"][path][method]
        assert operation["tags"] == [tag], path
        success = operation["responses"]["201" if path.endswith("create") else "200"]
        assert "$ref" in success["content"]["application/json"]["schema"], path
        assert "401" in operation["responses"], path
    for path in ("/api/jobs/create", "/api/jobs/{job_id}/status"):
        body = document["paths"][path]["post"]["requestBody"]
        schema = body["content"]["application/json"]["schema"]["$ref"]
        name = schema.rsplit("/", 1)[1]
        assert document["components"]["schemas"][name]["required"], name


async def test_the_documented_create_example_is_a_job_the_default_agent_takes(
    api: RunningApp,
) -> None:
    """The JobCreate example in the OpenAPI document creates a job as it stands.

    Clients and API fuzzers start from the documented examples; one the
    default agent refuses teaches them a request that can only fail.
    """
    document = (await api.client.get("/docs/openapi.json")).json()
    fields = document["components"]["schemas"]["JobCreate"]["properties"]
    example = {"kind": fields["kind"]["example"], "params": fields["params"]["example"]}

    response = await api.client.post(
        "/api/jobs/create", json=example, headers=api.auth(new_user(), "user"),
    )

    assert response.status_code == 201, response.text
