"""``/api/analytics/metrics`` over HTTP, on both backends."""

from __future__ import annotations

import uuid

from tests.fixtures.app import RunningApp
from tests.fixtures.jobs import register_agent


async def test_a_user_sees_its_own_figures_staff_see_all(api: RunningApp) -> None:
    """Figures are scoped to the caller under the user role."""
    agent = await register_agent(api.db)
    owner = str(uuid.uuid4())
    for who in (owner, owner, str(uuid.uuid4())):
        created = await api.client.post(
            "/api/jobs/create",
            json={"kind": agent["kind"], "params": {"start_ms": 0, "end_ms": 1}},
            headers=api.auth(who, "user"),
        )
        assert created.status_code == 201

    own = await api.client.get("/api/analytics/metrics?days=2",
                               headers=api.auth(owner, "user"))
    every = await api.client.get("/api/analytics/metrics", headers=api.auth())

    mine = own.json()["data"]
    assert mine["scope"] == "own"
    assert len(mine["jobs_per_day"]) == 2
    assert mine["jobs_per_day"][-1]["queued"] == 2
    assert every.json()["data"]["scope"] == "all"
    assert every.json()["data"]["jobs_per_day"][-1]["queued"] == 3
    assert every.json()["data"]["window"]["days"] == 7


async def test_bad_windows_are_400s(api: RunningApp) -> None:
    """``days`` runs from 1 to 90."""
    for days in ("0", "-1", "91", "1000000000", "week"):
        response = await api.client.get(f"/api/analytics/metrics?days={days}",
                                        headers=api.auth())

        assert response.status_code == 400, days
    assert (await api.client.get("/api/analytics/metrics")).status_code == 401
