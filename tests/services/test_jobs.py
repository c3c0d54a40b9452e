"""The jobs service on SQLite + memory and on PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest

from agentos.errors import AgentOSError, BadRequest, Conflict, Forbidden, NotFound
from agentos.services.base import CallContext, Principal
from agentos.services.clips import ClipReport
from agentos.services.job_lifecycle import JobStatus
from agentos.services.job_queries import JobQuery
from agentos.services.queue import CANCEL_CHANNEL
from tests.fixtures.jobs import (
    Stores,
    job_in,
    make_job,
    register_agent,
    staff_ctx,
    user_ctx,
)

S = JobStatus


async def claim_next(stores: Stores, agent_type: str) -> dict | None:
    """The job a worker of ``agent_type`` would get now."""
    return await stores.services["queue"].claim(agent_type, "worker-x")


# -- creating -----------------------------------------------------------------


async def test_created_job_is_queued_owned_and_dispatchable(stores: Stores) -> None:
    """A new job is queued under its caller, typed by its agent, and claimable."""
    agent = await register_agent(stores.db)
    owner = user_ctx()

    job = await make_job(stores.services, owner, kind=agent["kind"], priority=7)

    assert job["status"] == "queued"
    assert job["owner_id"] == owner.principal.subject
    assert job["agent_type"] == agent["agent_type"]
    assert (job["attempts"], job["priority"]) == (0, 7)
    claimed = await claim_next(stores, agent["agent_type"])
    assert claimed is not None and claimed["id"] == job["id"]
    assert claimed["status"] == "running"


async def test_unknown_kind_is_refused_with_the_known_kinds(stores: Stores) -> None:
    """A kind no agent declares is a 400 that lists the kinds that exist."""
    agent = await register_agent(stores.db, kinds={"test.known": {"type": "object"}})

    with pytest.raises(BadRequest) as caught:
        await make_job(stores.services, user_ctx(), kind="video.explode")

    assert agent["kind"] in caught.value.message
    assert caught.value.details[0]["pointer"] == "/kind"


async def test_params_are_checked_against_the_declared_schema(stores: Stores) -> None:
    """Params that break the kind's schema are a 400 pointing at each fault."""
    agent = await register_agent(stores.db)

    with pytest.raises(BadRequest) as caught:
        await make_job(stores.services, user_ctx(), kind=agent["kind"],
                       params={"start_ms": -5, "x": 1})

    pointers = {detail["pointer"] for detail in caught.value.details}
    assert "/params/start_ms" in pointers
    assert "/params" in pointers  # end_ms missing, x not allowed
    rows = await stores.db.fetchval("SELECT COUNT(*) FROM jobs")
    assert rows == 0


async def test_an_agent_with_a_broken_schema_is_a_conflict(stores: Stores) -> None:
    """An invalid declared schema is the agent's fault: 409, nothing stored."""
    agent = await register_agent(stores.db, kinds={"test.broken": {"type": "nonsense"}})

    with pytest.raises(Conflict, match="invalid params schema"):
        await make_job(stores.services, user_ctx(), kind=agent["kind"])

    assert await stores.db.fetchval("SELECT COUNT(*) FROM jobs") == 0


async def test_a_subject_that_is_no_user_id_owns_its_jobs(stores: Stores) -> None:
    """A token for 'ops-alice' creates a job it owns, stored under that name."""
    agent = await register_agent(stores.db)
    ctx = CallContext(Principal(subject="ops-alice", roles=("operator",)))

    job = await make_job(stores.services, ctx, kind=agent["kind"])

    stored = await stores.db.fetchval("SELECT owner_id FROM jobs WHERE id = $1",
                                      job["id"])
    assert job["owner_id"] == stored == "ops-alice"


async def test_a_subject_over_255_characters_cannot_own_jobs(stores: Stores) -> None:
    """A subject longer than the owner column is a 403 that says why."""
    agent = await register_agent(stores.db)
    ctx = CallContext(Principal(subject="s" * 256, roles=("admin",)))

    with pytest.raises(Forbidden, match="255"):
        await make_job(stores.services, ctx, kind=agent["kind"])


async def _upload(stores: Stores, owner: str, status: str) -> str:
    upload_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    await stores.db.execute(
        "INSERT INTO uploads (id, owner_id, filename, size_bytes, chunk_size, "
        "total_chunks, status, created_at, updated_at) "
        "VALUES ($1, $2, 'a.mp4', 10, 10, 1, $3, $4, $4)",
        upload_id, owner, status, now,
    )
    return upload_id


async def test_a_job_may_name_a_complete_upload_of_its_owner(stores: Stores) -> None:
    """A finalized upload of the caller is linked to the job."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    upload_id = await _upload(stores, owner.principal.subject, "complete")

    job = await stores.services["jobs"].create(
        owner, kind=agent["kind"], params={"start_ms": 0, "end_ms": 5},
        upload_id=upload_id,
    )

    assert job["upload_id"] == upload_id


@pytest.mark.parametrize(
    ("uploader", "status", "error"),
    [
        pytest.param("other", "complete", NotFound, id="another-users-upload"),
        pytest.param("self", "open", Conflict, id="upload-not-finalized"),
    ],
)
async def test_unusable_uploads_are_refused(
    stores: Stores, uploader: str, status: str, error: type[AgentOSError]
) -> None:
    """Another user's upload is not found; an unfinished one is a conflict."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    who = owner.principal.subject if uploader == "self" else str(uuid.uuid4())
    upload_id = await _upload(stores, who, status)

    with pytest.raises(error):
        await stores.services["jobs"].create(
            owner, kind=agent["kind"], params={"start_ms": 0, "end_ms": 5},
            upload_id=upload_id,
        )

    assert await stores.db.fetchval("SELECT COUNT(*) FROM jobs") == 0


# -- reading ------------------------------------------------------------------


async def test_a_user_cannot_see_another_users_job(stores: Stores) -> None:
    """Another owner's job is answered exactly like a missing one."""
    agent = await register_agent(stores.db)
    job = await make_job(stores.services, user_ctx(), kind=agent["kind"])
    jobs = stores.services["jobs"]

    with pytest.raises(NotFound):
        await jobs.get(user_ctx(), job_id=job["id"])
    with pytest.raises(NotFound):
        await jobs.get(user_ctx(), job_id=str(uuid.uuid4()))
    seen = await jobs.get(staff_ctx("readonly"), job_id=job["id"])
    assert seen["id"] == job["id"]


async def test_non_uuid_job_ids_are_bad_requests(stores: Stores) -> None:
    """A job id that is no UUID never reaches the database."""
    with pytest.raises(BadRequest, match="job_id"):
        await stores.services["jobs"].get(staff_ctx(), job_id="../../etc/passwd")


async def test_history_filters_by_status_and_owner(stores: Stores) -> None:
    """A user's history holds only its own jobs, filtered by status."""
    agent = await register_agent(stores.db)
    owner, other = user_ctx(), user_ctx()
    mine = [
        await job_in(stores.services, owner, status, kind=agent["kind"])
        for status in ("queued", "failed", "failed", "succeeded")
    ]
    await job_in(stores.services, other, "failed", kind=agent["kind"])
    query = JobQuery(statuses=(S.FAILED,))

    rows, page = await stores.services["jobs"].history(owner, query, per_page=1)

    assert page.total == 2
    assert len(rows) == 1
    assert rows[0]["id"] in {mine[1]["id"], mine[2]["id"]}
    assert rows[0]["owner_id"] == owner.principal.subject


async def test_summary_and_today_count_each_status(stores: Stores) -> None:
    """Counts per status cover every status, zeros included."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    for status in ("queued", "succeeded", "succeeded", "failed"):
        await job_in(stores.services, owner, status, kind=agent["kind"])
    jobs = stores.services["jobs"]

    summary = await jobs.summary(owner)
    today, page = await jobs.today(owner)

    assert summary["by_status"] == {
        "queued": 1, "running": 0, "succeeded": 2, "failed": 1, "cancelled": 0
    }
    assert summary["success_rate"] == round(2 / 3, 4)
    assert summary["by_kind"] == {agent["kind"]: 4}
    assert today["counts"] == summary["by_status"]
    assert page.total == 4 and len(today["jobs"]) == 4


@pytest.mark.parametrize("limit", [0, -1, 10**9, 101])
async def test_recent_refuses_limits_out_of_bounds(stores: Stores, limit: int) -> None:
    """``recent`` takes 1 to 100 jobs."""
    with pytest.raises(BadRequest):
        await stores.services["jobs"].recent(staff_ctx(), limit=limit)


# -- cancelling ---------------------------------------------------------------


async def test_cancelling_a_queued_job_takes_it_out_of_line(stores: Stores) -> None:
    """A cancelled job is never handed to a worker."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    job = await make_job(stores.services, owner, kind=agent["kind"])

    cancelled = await stores.services["jobs"].cancel(owner, job_id=job["id"],
                                                     reason="wrong file")

    assert cancelled["status"] == "cancelled"
    assert cancelled["error"] == "wrong file"
    assert cancelled["finished_at"] is not None
    assert await claim_next(stores, agent["agent_type"]) is None


async def test_cancelling_a_running_job_signals_its_worker(stores: Stores) -> None:
    """The stop signal names the job and the worker that runs it."""
    agent = await register_agent(stores.db)
    job = await job_in(stores.services, user_ctx(), "running", kind=agent["kind"])

    async with stores.state.subscribe(CANCEL_CHANNEL) as messages:
        await stores.services["jobs"].cancel(staff_ctx("supervisor"), job_id=job["id"])
        message = await asyncio.wait_for(anext(aiter(messages)), 5)

    assert json.loads(message) == {"job_id": job["id"], "worker_id": "worker-1"}


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
async def test_a_finished_job_cannot_be_cancelled(stores: Stores, status: str) -> None:
    """Cancelling a finished job is a 409 and changes nothing."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    job = await job_in(stores.services, owner, status, kind=agent["kind"])

    with pytest.raises(Conflict):
        await stores.services["jobs"].cancel(owner, job_id=job["id"])

    after = await stores.services["jobs"].get(owner, job_id=job["id"])
    assert after["status"] == status


async def test_two_concurrent_cancels_make_one_transition(stores: Stores) -> None:
    """Of two cancels racing on one job, one succeeds and one is a conflict."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    job = await make_job(stores.services, owner, kind=agent["kind"])
    jobs = stores.services["jobs"]

    results = await asyncio.gather(
        jobs.cancel(owner, job_id=job["id"], reason="first"),
        jobs.cancel(staff_ctx("supervisor"), job_id=job["id"], reason="second"),
        return_exceptions=True,
    )

    done = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(done) == 1 and len(refused) == 1
    stored = await jobs.get(owner, job_id=job["id"])
    assert stored["error"] == done[0]["error"]
    assert stored["updated_at"] == done[0]["updated_at"]


async def test_a_user_cannot_cancel_another_users_job(stores: Stores) -> None:
    """Under own_only another owner's job is not found, and stays queued."""
    agent = await register_agent(stores.db)
    job = await make_job(stores.services, user_ctx(), kind=agent["kind"])

    with pytest.raises(NotFound):
        await stores.services["jobs"].cancel(user_ctx(), job_id=job["id"])

    assert (await stores.services["jobs"].get(staff_ctx(), job_id=job["id"]))[
        "status"] == "queued"


# -- retrying -----------------------------------------------------------------


@pytest.mark.parametrize("status", ["failed", "cancelled"])
async def test_retry_queues_again_with_one_more_attempt(
    stores: Stores, status: str
) -> None:
    """A failed or cancelled job is queued again, cleaned, and dispatchable."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    job = await job_in(stores.services, owner, status, kind=agent["kind"])

    retried = await stores.services["jobs"].retry(owner, job_id=job["id"])

    assert retried["status"] == "queued"
    assert retried["attempts"] == job["attempts"] + 1
    assert (retried["error"], retried["finished_at"], retried["worker_id"]) == (
        None, None, None)
    claimed = await claim_next(stores, agent["agent_type"])
    assert claimed is not None and claimed["id"] == job["id"]


@pytest.mark.parametrize("status", ["queued", "running", "succeeded"])
async def test_only_failed_or_cancelled_jobs_are_retried(
    stores: Stores, status: str
) -> None:
    """Retrying a job in any other status is a 409."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    job = await job_in(stores.services, owner, status, kind=agent["kind"])

    with pytest.raises(Conflict, match="only a failed or cancelled job"):
        await stores.services["jobs"].retry(owner, job_id=job["id"])


# -- prioritizing -------------------------------------------------------------


async def test_dispatch_order_follows_a_new_priority(stores: Stores) -> None:
    """Raising a later job's priority lets it overtake an earlier one."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    first = await make_job(stores.services, owner, kind=agent["kind"], priority=5)
    second = await make_job(stores.services, owner, kind=agent["kind"], priority=5)

    raised = await stores.services["jobs"].prioritize(
        staff_ctx("operator"), job_id=second["id"], priority=9
    )

    assert raised["priority"] == 9
    order = [await claim_next(stores, agent["agent_type"]) for _ in range(2)]
    assert [job["id"] for job in order if job] == [second["id"], first["id"]]


@pytest.mark.parametrize("priority", [-1, 10, True])
async def test_priorities_outside_zero_to_nine_are_refused(
    stores: Stores, priority: int
) -> None:
    """A priority must be a whole number from 0 to 9."""
    with pytest.raises(BadRequest):
        await stores.services["jobs"].prioritize(
            staff_ctx(), job_id=str(uuid.uuid4()), priority=priority
        )


async def test_only_a_queued_job_can_be_reprioritized(stores: Stores) -> None:
    """A running job's priority cannot change any more."""
    agent = await register_agent(stores.db)
    job = await job_in(stores.services, user_ctx(), "running", kind=agent["kind"])

    with pytest.raises(Conflict, match="only a queued job"):
        await stores.services["jobs"].prioritize(staff_ctx(), job_id=job["id"],
                                                 priority=1)


# -- reports from workers -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "target"),
    [
        pytest.param("queued", "succeeded", id="queued-to-succeeded"),
        pytest.param("queued", "queued", id="queued-to-queued"),
        pytest.param("succeeded", "running", id="succeeded-to-running"),
        pytest.param("failed", "succeeded", id="failed-to-succeeded"),
        pytest.param("cancelled", "running", id="cancelled-to-running"),
    ],
)
async def test_illegal_reports_are_conflicts(
    stores: Stores, status: str, target: str
) -> None:
    """A report that the transition table does not allow changes nothing."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    job = await job_in(stores.services, owner, status, kind=agent["kind"])

    with pytest.raises(Conflict):
        await stores.services["jobs"].report(
            staff_ctx("operator"), job_id=job["id"], status=S(target)
        )

    after = await stores.services["jobs"].get(owner, job_id=job["id"])
    assert (after["status"], after["updated_at"]) == (status, job["updated_at"])


async def test_progress_reports_and_success_with_clips(stores: Stores) -> None:
    """Progress is kept while running; success stores result and clips at once."""
    agent = await register_agent(stores.db)
    owner, worker = user_ctx(), staff_ctx("operator")
    job = await job_in(stores.services, owner, "running", kind=agent["kind"])
    jobs = stores.services["jobs"]
    clip = ClipReport(path="a/clip-1.mp4", start_ms=0, end_ms=900, size_bytes=12,
                      sha256="ab" * 32)

    halfway = await jobs.report(worker, job_id=job["id"], status=S.RUNNING,
                                progress=0.5, worker_id="worker-1")
    done = await jobs.report(worker, job_id=job["id"], status=S.SUCCEEDED,
                             result={"clips": 1}, worker_id="worker-1", clips=[clip])

    assert halfway["progress"] == 0.5
    assert (done["status"], done["progress"], done["result"]) == (
        "succeeded", 1.0, {"clips": 1})
    clips, page = await jobs.clips(owner, job_id=job["id"])
    assert page.total == 1
    assert clips[0]["path"] == "a/clip-1.mp4"
    assert clips[0]["owner_id"] == owner.principal.subject


async def test_a_report_from_another_worker_is_refused(stores: Stores) -> None:
    """Only the worker holding a job may report on it."""
    agent = await register_agent(stores.db)
    job = await job_in(stores.services, user_ctx(), "running", kind=agent["kind"])

    with pytest.raises(Conflict, match="held by worker 'worker-1'"):
        await stores.services["jobs"].report(
            staff_ctx("operator"), job_id=job["id"], status=S.SUCCEEDED,
            worker_id="worker-2",
        )


async def test_clips_come_only_with_success(stores: Stores) -> None:
    """Clips sent with any other status are a 400."""
    clip = ClipReport(path="c.mp4", start_ms=0, end_ms=1, size_bytes=1,
                      sha256="0" * 64)

    with pytest.raises(BadRequest, match="clips"):
        await stores.services["jobs"].report(
            staff_ctx(), job_id=str(uuid.uuid4()), status=S.FAILED, clips=[clip]
        )
