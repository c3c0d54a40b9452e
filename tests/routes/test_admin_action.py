"""``POST /api/admin/action``: each stage's refusal, answered in the envelope."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.app import RunningApp

JOB_ID = "3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a"


async def post(
    api: RunningApp, body: Any, *, role: str = "admin", **kwargs: Any
) -> Any:
    """POST ``body`` as JSON with a token of ``role``."""
    headers = {**api.auth(None, role), **kwargs.pop("headers", {})}
    return await api.client.post(
        "/api/admin/action", json=body, headers=headers, **kwargs
    )


async def test_a_call_without_a_token_is_401(api: RunningApp) -> None:
    """Authentication comes first: no token, no further stage."""
    response = await api.client.post(
        "/api/admin/action", json={"action": "queue.resume"}
    )

    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED"


async def test_an_undeclared_action_is_400_unknown_action_with_a_hint(
    api: RunningApp,
) -> None:
    """A near miss is named, so the caller can fix the typo."""
    response = await post(api, {"action": "job.cancle", "payload": {}})

    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "UNKNOWN_ACTION"
    assert "job.cancel" in body["error"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        pytest.param({"payload": {}}, "/action", id="no-action"),
        pytest.param({"action": 7}, "/action", id="action-not-a-string"),
        pytest.param(["queue.resume"], "/", id="not-an-object"),
        pytest.param(
            {"action": "job.retry", "payload": {}},
            "/payload/job_id",
            id="missing-required",
        ),
        pytest.param(
            {"action": "job.retry", "payload": {"job_id": "job-5"}},
            "/payload/job_id",
            id="not-a-uuid",
        ),
        pytest.param(
            {"action": "job.retry", "payload": {"job_id": 5}},
            "/payload/job_id",
            id="wrong-type",
        ),
        pytest.param(
            {"action": "job.retry", "payload": {"job_id": JOB_ID, "x": 1}},
            "/payload/x",
            id="unknown-field",
        ),
        pytest.param(
            {"action": "queue.resume", "payloads": {}},
            "/payloads",
            id="unknown-top-level-key",
        ),
    ],
)
async def test_invalid_requests_are_400_with_a_pointer_per_fault(
    api: RunningApp, body: Any, pointer: str
) -> None:
    """VALIDATION_ERROR details name the faulty place as a JSON pointer."""
    response = await post(api, body)

    assert response.status_code == 400
    payload = response.json()
    assert payload["error_code"] == "VALIDATION_ERROR"
    assert [detail["pointer"] for detail in payload["details"]] == [pointer]
    assert all(detail["message"] for detail in payload["details"])


async def test_a_role_without_the_permission_is_403_before_validation(
    api: RunningApp,
) -> None:
    """readonly may run no action; even an invalid payload gets 403, not 400."""
    response = await post(
        api, {"action": "job.retry", "payload": {"bad": 1}}, role="readonly"
    )

    assert response.status_code == 403
    assert response.json()["error_code"] == "FORBIDDEN"


async def test_the_body_must_be_json(api: RunningApp) -> None:
    """A form body is refused with 415 before any action is looked up."""
    response = await api.client.post(
        "/api/admin/action",
        content=b"action=queue.resume",
        headers={**api.auth(), "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 415


async def test_a_successful_call_answers_the_action_and_its_result(
    api: RunningApp,
) -> None:
    """The envelope's data names the action and carries the target's result."""
    response = await post(api, {"action": "queue.pause", "payload": {"reason": "test"}})

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["action"] == "queue.pause"
    assert isinstance(data["result"], dict)
