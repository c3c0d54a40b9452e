"""The queue service: dispatch order, pausing, clearing, rebuilding, figures."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from agentos.config import Settings
from agentos.errors import BadRequest
from agentos.services.catalog import build_services
from agentos.services.job_lifecycle import JobStatus
from agentos.state import MemoryState, RedisState
from tests.fixtures.jobs import (
    Stores,
    job_in,
    make_job,
    register_agent,
    staff_ctx,
    user_ctx,
)
from tests.fixtures.services import REDIS_URL


async def test_workers_get_the_highest_priority_then_the_oldest(stores: Stores) -> None:
    """Dispatch order is priority 9 first, and first come first within one."""
    agent = await register_agent(stores.db)
    owner, kind = user_ctx(), agent["kind"]
    low = await make_job(stores.services, owner, kind=kind, priority=1)
    old = await make_job(stores.services, owner, kind=kind, priority=5)
    new = await make_job(stores.services, owner, kind=kind, priority=5)
    top = await make_job(stores.services, owner, kind=kind, priority=9)
    queue = stores.services["queue"]

    order = [await queue.claim(agent["agent_type"], "w") for _ in range(5)]

    assert [job["id"] for job in order[:4]] == [top["id"], old["id"], new["id"],
                                                low["id"]]
    assert order[4] is None


async def test_concurrent_claims_hand_out_each_job_once(stores: Stores) -> None:
    """Ten workers racing for three jobs get three distinct jobs."""
    agent = await register_agent(stores.db)
    made = {
        (await make_job(stores.services, user_ctx(), kind=agent["kind"]))["id"]
        for _ in range(3)
    }
    queue = stores.services["queue"]

    claims = await asyncio.gather(
        *(queue.claim(agent["agent_type"], f"w{n}") for n in range(10))
    )

    got = [job for job in claims if job is not None]
    assert sorted(job["id"] for job in got) == sorted(made)
    assert len({job["worker_id"] for job in got}) == 3


async def test_pause_stops_dispatch_but_not_intake(stores: Stores) -> None:
    """While paused, jobs are still created and wait; resume hands them out."""
    agent = await register_agent(stores.db)
    queue, operator = stores.services["queue"], staff_ctx("operator")

    paused = await queue.pause(operator, reason="storage migration")
    job = await make_job(stores.services, user_ctx(), kind=agent["kind"])
    while_paused = await queue.claim(agent["agent_type"], "w")
    resumed = await queue.resume(operator)
    after = await queue.claim(agent["agent_type"], "w")

    assert paused["paused"] is True
    assert paused["pause"]["reason"] == "storage migration"
    assert paused["pause"]["by"] == operator.principal.subject
    assert while_paused is None
    assert resumed["paused"] is False
    assert after is not None and after["id"] == job["id"]


async def test_a_second_pause_keeps_the_first_reason(stores: Stores) -> None:
    """Pausing twice is harmless and keeps who paused first and why."""
    queue = stores.services["queue"]
    await queue.pause(staff_ctx(), reason="first")

    again = await queue.pause(staff_ctx(), reason="second")

    assert again["pause"]["reason"] == "first"


async def test_clear_cancels_queued_jobs_of_one_type_only(stores: Stores) -> None:
    """Clearing one agent type leaves other types and running jobs alone."""
    target = await register_agent(stores.db)
    other = await register_agent(stores.db)
    owner, queue = user_ctx(), stores.services["queue"]
    waiting = [await make_job(stores.services, owner, kind=target["kind"])
               for _ in range(3)]
    running = await job_in(stores.services, owner, "running", kind=target["kind"])
    spared = await make_job(stores.services, owner, kind=other["kind"])

    result = await queue.clear(staff_ctx(), agent_type=target["agent_type"])

    assert result == {"cancelled": 3}
    jobs = stores.services["jobs"]
    for job in waiting:
        assert (await jobs.get(owner, job_id=job["id"]))["status"] == "cancelled"
    assert (await jobs.get(owner, job_id=running["id"]))["status"] == "running"
    assert await queue.claim(target["agent_type"], "w") is None
    assert (await queue.claim(other["agent_type"], "w"))["id"] == spared["id"]


async def test_status_counts_depth_per_type_and_priority(stores: Stores) -> None:
    """The status shows each type's waiting jobs by priority."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    for priority in (9, 9, 2):
        await make_job(stores.services, owner, kind=agent["kind"], priority=priority)
    cancelled = await make_job(stores.services, owner, kind=agent["kind"], priority=4)
    await stores.services["jobs"].cancel(owner, job_id=cancelled["id"])

    status = await stores.services["queue"].status()

    assert status["by_agent_type"][agent["agent_type"]] == {
        "total": 3, "by_priority": {"9": 2, "2": 1}
    }
    assert status["paused"] is False


async def test_details_show_a_user_only_its_own_jobs_in_place(stores: Stores) -> None:
    """A user sees its jobs with their positions in the whole line."""
    agent = await register_agent(stores.db)
    me, someone = user_ctx(), user_ctx()
    await make_job(stores.services, someone, kind=agent["kind"], priority=9)
    mine = await make_job(stores.services, me, kind=agent["kind"], priority=5)
    await make_job(stores.services, someone, kind=agent["kind"], priority=1)
    queue = stores.services["queue"]

    own = await queue.queued(me, agent_type=agent["agent_type"])
    everyone = await queue.queued(staff_ctx("readonly"), agent_type=agent["agent_type"])

    assert [(job["id"], job["position"]) for job in own] == [(mine["id"], 2)]
    assert [job["position"] for job in everyone] == [1, 2, 3]
    assert [job["priority"] for job in everyone] == [9, 5, 1]


@pytest.mark.parametrize("limit", [0, -1, 101, 10**9])
async def test_details_limit_is_bounded(stores: Stores, limit: int) -> None:
    """The line shows 1 to 100 jobs."""
    with pytest.raises(BadRequest):
        await stores.services["queue"].queued(staff_ctx(), limit=limit)


async def test_an_empty_state_store_is_rebuilt_from_the_table(stores: Stores) -> None:
    """After losing the state (a restart on memory), queued jobs still dispatch."""
    agent = await register_agent(stores.db)
    job = await make_job(stores.services, user_ctx(), kind=agent["kind"], priority=3)
    if stores.state.backend == "memory":
        fresh = MemoryState()
    else:
        prefix = f"agentos-test:{uuid.uuid4().hex}:"
        fresh = RedisState.from_url(REDIS_URL, prefix=prefix)
    restarted = build_services(stores.db, fresh, Settings())

    try:
        claimed = await restarted["queue"].claim(agent["agent_type"], "w")
    finally:
        if fresh.backend == "redis":
            await fresh.delete_prefix("")
        await fresh.close()

    assert claimed is not None and claimed["id"] == job["id"]


async def test_release_puts_a_lost_workers_jobs_back_in_line(stores: Stores) -> None:
    """Jobs running on a lost worker become queued and dispatchable again."""
    agent = await register_agent(stores.db)
    queue = stores.services["queue"]
    job = await make_job(stores.services, user_ctx(), kind=agent["kind"])
    await queue.claim(agent["agent_type"], "doomed")

    released = await queue.release("doomed")

    assert released == [job["id"]]
    again = await queue.claim(agent["agent_type"], "survivor")
    assert again is not None and again["id"] == job["id"]
    assert again["worker_id"] == "survivor"


async def test_stats_count_enqueues_dequeues_and_waits(stores: Stores) -> None:
    """Figures count the jobs queued and started in the window."""
    agent = await register_agent(stores.db)
    for _ in range(3):
        await make_job(stores.services, user_ctx(), kind=agent["kind"])
    queue = stores.services["queue"]
    await queue.claim(agent["agent_type"], "w")

    stats = await queue.stats(window_minutes=5)

    assert (stats["enqueued"], stats["dequeued"]) == (3, 1)
    assert stats["enqueue_per_minute"] == 0.6
    assert stats["wait_seconds"]["p50"] is not None
    assert stats["wait_seconds"]["p50"] >= 0
    assert stats["oldest_waiting_seconds"] is not None


async def test_a_claimed_job_is_running_in_the_table(stores: Stores) -> None:
    """The claim marks the job running with its worker and start time."""
    agent = await register_agent(stores.db)
    job = await make_job(stores.services, user_ctx(), kind=agent["kind"])

    claimed = await stores.services["queue"].claim(agent["agent_type"], "w-9",
                                                   agent_id=agent["id"])

    row = await stores.db.fetchrow(
        "SELECT status, worker_id, agent_id, started_at FROM jobs WHERE id = $1",
        job["id"],
    )
    assert claimed is not None
    assert row["status"] == JobStatus.RUNNING
    assert (row["worker_id"], row["agent_id"]) == ("w-9", agent["id"])
    assert row["started_at"] is not None
