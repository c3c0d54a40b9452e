"""Clips: what a worker may report, and who may read them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentos.errors import BadRequest, NotFound
from agentos.services.clips import ClipReport
from agentos.services.job_lifecycle import JobStatus
from tests.fixtures.jobs import (
    Stores,
    job_in,
    register_agent,
    staff_ctx,
    user_ctx,
)

GOOD = {"path": "2026/12/clip.mp4", "start_ms": 0, "end_ms": 10, "size_bytes": 5,
        "sha256": "a" * 64}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"path": "../etc/passwd"}, id="parent-segment"),
        pytest.param({"path": "/abs/clip.mp4"}, id="absolute"),
        pytest.param({"path": "a//b.mp4"}, id="empty-segment"),
        pytest.param({"path": "a/\x00.mp4"}, id="nul"),
        pytest.param({"path": "a\\..\\b"}, id="backslash"),
        pytest.param({"path": "p" * 1025}, id="too-long"),
        pytest.param({"sha256": "A" * 64}, id="upper-case-digest"),
        pytest.param({"sha256": "a" * 63}, id="short-digest"),
        pytest.param({"end_ms": 0}, id="ends-at-zero"),
        pytest.param({"start_ms": 10, "end_ms": 10}, id="empty-span"),
        pytest.param({"size_bytes": -1}, id="negative-size"),
        pytest.param({"url": "http://x"}, id="unknown-field"),
    ],
)
def test_bad_clip_reports_are_refused(change: dict) -> None:
    """A clip must stay inside storage and describe a real span and file."""
    with pytest.raises(ValidationError):
        ClipReport.model_validate({**GOOD, **change})


async def _clip(stores: Stores, owner) -> dict:
    agent = await register_agent(stores.db)
    job = await job_in(stores.services, owner, "running", kind=agent["kind"])
    await stores.services["jobs"].report(
        staff_ctx("operator"), job_id=job["id"], status=JobStatus.SUCCEEDED,
        clips=[ClipReport.model_validate(GOOD)],
    )
    clips, _ = await stores.services["clips"].recent(owner)
    return clips[0]


async def test_a_user_reads_its_own_clip_but_not_anothers(stores: Stores) -> None:
    """Another user's clip is 404; staff and the owner read it."""
    owner = user_ctx()
    clip = await _clip(stores, owner)
    clips = stores.services["clips"]

    mine = await clips.get(owner, clip_id=clip["id"])

    assert mine["duration_ms"] == 10
    seen = await clips.get(staff_ctx("readonly"), clip_id=clip["id"])
    assert seen["id"] == clip["id"]
    with pytest.raises(NotFound):
        await clips.get(user_ctx(), clip_id=clip["id"])
    with pytest.raises(BadRequest):
        await clips.get(owner, clip_id="not-a-uuid")


async def test_recent_clips_are_the_callers_own(stores: Stores) -> None:
    """A user's recent clips leave out everyone else's."""
    owner = user_ctx()
    await _clip(stores, owner)
    await _clip(stores, user_ctx())

    own, own_page = await stores.services["clips"].recent(owner)
    _, every_page = await stores.services["clips"].recent(staff_ctx())

    assert own_page.total == 1 and own[0]["owner_id"] == owner.principal.subject
    assert every_page.total == 2
