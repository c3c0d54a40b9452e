"""``/api/clips`` over HTTP, on the embedded and on the real backends."""

from __future__ import annotations

import uuid

from tests.fixtures.app import RunningApp
from tests.fixtures.jobs import register_agent


async def clip_of(api: RunningApp, owner: str) -> dict:
    """A clip made by a job of ``owner`` that succeeded."""
    agent = await register_agent(api.db)
    created = await api.client.post(
        "/api/jobs/create",
        json={"kind": agent["kind"], "params": {"start_ms": 0, "end_ms": 9}},
        headers=api.auth(owner, "user"),
    )
    job_id = created.json()["data"]["id"]
    worker = api.auth(None, "operator")
    await api.client.post(f"/api/jobs/{job_id}/status", json={"status": "running"},
                          headers=worker)
    clip = {"path": f"{owner}/c.mp4", "start_ms": 1000, "end_ms": 4000,
            "size_bytes": 42, "sha256": "c" * 64}
    done = await api.client.post(
        f"/api/jobs/{job_id}/status", json={"status": "succeeded", "clips": [clip]},
        headers=worker,
    )
    assert done.status_code == 200, done.text
    listed = await api.client.get(f"/api/jobs/{job_id}/clips", headers=worker)
    return dict(listed.json()["data"][0])


async def test_a_user_reads_its_clip_and_not_anothers(api: RunningApp) -> None:
    """The owner and staff read a clip; another user gets 404."""
    owner = str(uuid.uuid4())
    clip = await clip_of(api, owner)

    own = await api.client.get(f"/api/clips/{clip['id']}",
                               headers=api.auth(owner, "user"))
    staff = await api.client.get(f"/api/clips/{clip['id']}",
                                 headers=api.auth(None, "readonly"))
    stranger = await api.client.get(f"/api/clips/{clip['id']}",
                                    headers=api.auth(str(uuid.uuid4()), "user"))

    assert own.status_code == 200
    assert own.json()["data"]["duration_ms"] == 3000
    assert staff.status_code == 200
    assert stranger.status_code == 404


async def test_recent_clips_are_scoped_and_paginated(api: RunningApp) -> None:
    """A user's recent clips are its own; pages carry totals."""
    owner = str(uuid.uuid4())
    mine = await clip_of(api, owner)
    await clip_of(api, str(uuid.uuid4()))

    own = await api.client.get("/api/clips/recent?per_page=1",
                               headers=api.auth(owner, "user"))
    every = await api.client.get("/api/clips/recent", headers=api.auth())

    assert [c["id"] for c in own.json()["data"]] == [mine["id"]]
    assert own.json()["pagination"]["total"] == 1
    assert every.json()["pagination"]["total"] == 2


async def test_bad_clip_requests_are_refused(api: RunningApp) -> None:
    """Non-UUID ids and oversized pages are 400; no token is 401."""
    cases = [("/api/clips/not-a-uuid", 400), ("/api/clips/recent?per_page=101", 400),
             ("/api/clips/recent?page=0", 400)]

    for path, status in cases:
        response = await api.client.get(path, headers=api.auth())

        assert response.status_code == status, f"{path}: {response.text}"
    assert (await api.client.get("/api/clips/recent")).status_code == 401
