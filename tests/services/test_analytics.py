"""Analytics figures over a window of days, per owner or for everyone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentos.errors import BadRequest
from agentos.services.analytics import quantile, quantiles
from tests.fixtures.jobs import (
    Stores,
    job_in,
    register_agent,
    user_ctx,
)


def test_quantiles_use_the_nearest_rank() -> None:
    """p50 of 1..10 is 5 and p95 is 10; nothing to rank gives None."""
    values = [float(n) for n in range(1, 11)]

    assert quantile(values, 0.5) == 5.0
    assert quantile(values, 0.95) == 10.0
    assert quantile([], 0.5) is None
    assert quantiles([]) == {"p50": None, "p95": None, "mean": None}


async def test_metrics_count_jobs_per_day_and_failure_rate(stores: Stores) -> None:
    """Today's jobs are counted by status; failures over finished runs."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    for status in ("succeeded", "succeeded", "succeeded", "failed", "queued"):
        await job_in(stores.services, owner, status, kind=agent["kind"])
    await job_in(stores.services, user_ctx(), "failed", kind=agent["kind"])

    mine = await stores.services["analytics"].metrics(
        window_days=3, owner_id=owner.principal.subject
    )
    everyone = await stores.services["analytics"].metrics(window_days=3)

    today = mine["jobs_per_day"][-1]
    assert [day["date"] for day in mine["jobs_per_day"]][-1] == (
        datetime.now(UTC).date().isoformat()
    )
    assert len(mine["jobs_per_day"]) == 3
    assert (today["succeeded"], today["failed"], today["queued"], today["total"]) == (
        3, 1, 1, 5)
    assert mine["failure_rate"] == 0.25
    assert mine["throughput"]["finished"] == 4
    assert everyone["failure_rate"] == round(2 / 5, 4)


async def test_old_jobs_fall_outside_the_window(stores: Stores) -> None:
    """A job created before the window is not counted."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    job = await job_in(stores.services, owner, "queued", kind=agent["kind"])
    long_ago = datetime.now(UTC) - timedelta(days=10)
    await stores.db.execute(
        "UPDATE jobs SET created_at = $1 WHERE id = $2", long_ago, job["id"]
    )

    metrics = await stores.services["analytics"].metrics(
        window_days=7, owner_id=owner.principal.subject
    )

    assert sum(day["total"] for day in metrics["jobs_per_day"]) == 0


async def test_upload_volume_counts_complete_bytes(stores: Stores) -> None:
    """Uploads are counted by status; only complete ones add bytes."""
    owner = user_ctx().principal.subject
    now = datetime.now(UTC)
    for n, (status, size) in enumerate([("complete", 100), ("complete", 50),
                                        ("open", 999)]):
        await stores.db.execute(
            "INSERT INTO uploads (id, owner_id, filename, size_bytes, chunk_size, "
            "total_chunks, status, created_at, updated_at) "
            "VALUES ($1, $2, 'f', $3, 10, 1, $4, $5, $5)",
            f"00000000-0000-4000-8000-00000000000{n}", owner, size, status, now,
        )

    metrics = await stores.services["analytics"].metrics(owner_id=owner)

    assert metrics["uploads"] == {
        "count": 3, "by_status": {"complete": 2, "open": 1}, "bytes_complete": 150
    }


@pytest.mark.parametrize("days", [0, -1, 91, True])
async def test_window_is_one_to_ninety_days(stores: Stores, days: int) -> None:
    """Windows outside 1..90 days are refused."""
    with pytest.raises(BadRequest):
        await stores.services["analytics"].metrics(window_days=days)
