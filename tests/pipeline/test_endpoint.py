"""POST /api/admin/action end to end: every stage composed, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from agentos.auth.tokens import issue_token
from agentos.pipeline.audit import verify_chain
from agentos.pipeline.idempotency import record_key
from agentos.services.base import CallContext, Principal
from tests.fixtures.app import RunningApp
from tests.pipeline.conftest import probe_of


async def _call(
    app: RunningApp,
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    subject: str = "alice",
    roles: tuple[str, ...] = ("admin",),
) -> Any:
    return await app.client.post(
        "/api/admin/action",
        json={"action": action, "payload": payload or {}},
        headers={**app.auth(subject, *roles), **(headers or {})},
    )


async def _audit(app: RunningApp) -> list[dict[str, Any]]:
    await asyncio.sleep(0)
    return await app.db.fetch("SELECT * FROM audit_records ORDER BY seq")


async def test_an_allowed_call_runs_once_and_is_audited(probe_app: RunningApp) -> None:
    """The effect happens, the reply carries the result, the audit says so."""

    response = await _call(probe_app, "probe.touch", {"tag": "a"})

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "action": "probe.touch",
        "result": {"touches": 1},
    }
    assert probe_of(probe_app).calls == [("touch", {"tag": "a", "by": "alice"})]
    records = await _audit(probe_app)
    assert len(records) == 1
    record = records[0]
    assert (
        record["actor"],
        record["action"],
        record["decision"],
        record["outcome"],
    ) == ("alice", "probe.touch", "allowed", "succeeded")
    assert record["status"] == 200
    assert record["trace_id"] == response.headers["X-Trace-Id"]
    assert record["payload"] == {"tag": "a"}
    assert record["registry_version"] and record["policy_version"]
    assert (await verify_chain(probe_app.db)).intact
    assert await probe_app.db.fetchval("SELECT count(*) FROM audit_pending") == 0


# -- refusals are audited too ---------------------------------------------


async def test_a_call_without_token_is_refused_and_audited(
    probe_app: RunningApp,
) -> None:
    """401 before anything runs; the record names the claimed action and the stage."""

    response = await probe_app.client.post(
        "/api/admin/action", json={"action": "probe.touch", "payload": {}}
    )

    assert response.status_code == 401
    assert probe_of(probe_app).calls == []
    [record] = await _audit(probe_app)
    assert (record["actor"], record["decision"], record["outcome"]) == (
        "anonymous",
        "denied",
        "refused",
    )
    assert record["action"] == "probe.touch"
    assert record["error_code"] == "UNAUTHORIZED"
    assert record["rule"].startswith("authenticate")


async def test_a_role_without_the_permission_is_forbidden_and_audited(
    probe_app: RunningApp,
) -> None:
    """A readonly caller gets 403 and the record names the role rule."""

    response = await _call(probe_app, "probe.touch", roles=("readonly",))

    assert response.status_code == 403
    assert probe_of(probe_app).calls == []
    [record] = await _audit(probe_app)
    assert (record["decision"], record["status"], record["error_code"]) == (
        "denied",
        403,
        "FORBIDDEN",
    )
    assert "roles" in record["rule"]


async def test_an_unknown_action_is_audited_under_its_claimed_name(
    probe_app: RunningApp,
) -> None:
    """400 UNKNOWN_ACTION; a look-alike name is recorded, truncated, not resolved."""
    lookalike = "probe.t\u043euch\u200b" + "x" * 10_000

    response = await _call(probe_app, lookalike)

    assert response.status_code == 400
    assert response.json()["error_code"] == "UNKNOWN_ACTION"
    [record] = await _audit(probe_app)
    assert record["action"].startswith("probe.t\u043euch")
    assert len(record["action"]) <= 200


async def test_an_invalid_payload_is_refused_before_dispatch(
    probe_app: RunningApp,
) -> None:
    """Extra fields and wrong types are 400 and the service is never called."""

    extra = await _call(probe_app, "probe.touch", {"tag": "a", "sneaky": 1})
    wrong = await _call(probe_app, "probe.export", {"rows": "many"})

    assert (extra.status_code, wrong.status_code) == (400, 400)
    assert probe_of(probe_app).calls == []
    records = await _audit(probe_app)
    assert [r["error_code"] for r in records] == ["VALIDATION_ERROR"] * 2
    assert all(r["decision"] == "allowed" for r in records)


async def test_pii_and_secrets_never_reach_the_audit_trail(
    probe_app: RunningApp,
) -> None:
    """x-pii fields, secret keys and e-mails in free text are masked."""
    payload = {
        "email": "ada@example.com",
        "password": "hunter2",
        "note": "call bob@example.com, card 4111 1111 1111 1111",
    }

    response = await _call(probe_app, "probe.profile", payload)

    assert response.status_code == 200
    [record] = await _audit(probe_app)
    assert record["payload"] == {
        "request": {
            "email": "[pii]",
            "password": "[secret]",
            "note": "call [email], card [card]",
        },
        "response": {"saved": True},
    }
    stored = str(record)
    assert "hunter2" not in stored and "ada@example.com" not in stored


# -- idempotency -----------------------------------------------------------


async def test_a_retry_with_the_same_key_replays_without_a_second_effect(
    probe_app: RunningApp,
) -> None:
    """The second call gets the first answer back, byte for byte, and no effect."""
    key = {"X-Idempotency-Key": "retry-1"}

    first = await _call(probe_app, "probe.touch", {"tag": "a"}, headers=key)
    second = await _call(probe_app, "probe.touch", {"tag": "a"}, headers=key)

    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(probe_of(probe_app).calls) == 1
    outcomes = [r["outcome"] for r in await _audit(probe_app)]
    assert outcomes == ["succeeded", "replayed"]


async def test_the_same_key_with_another_payload_is_422(probe_app: RunningApp) -> None:
    """Key reuse for a different request is refused and runs nothing."""
    key = {"Idempotency-Key": "reuse-1"}
    await _call(probe_app, "probe.touch", {"tag": "a"}, headers=key)

    response = await _call(probe_app, "probe.touch", {"tag": "b"}, headers=key)

    assert response.status_code == 422
    assert response.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(probe_of(probe_app).calls) == 1


async def test_keys_belong_to_their_caller(probe_app: RunningApp) -> None:
    """Bob's call with Alice's key runs: keys are scoped per caller."""
    key = {"X-Idempotency-Key": "shared"}

    await _call(probe_app, "probe.touch", headers=key, subject="alice")
    response = await _call(probe_app, "probe.touch", headers=key, subject="bob")

    assert "Idempotent-Replayed" not in response.headers
    assert len(probe_of(probe_app).calls) == 2


async def test_an_action_that_requires_a_key_refuses_a_call_without(
    probe_app: RunningApp,
) -> None:
    """idempotency: required means 400 INVALID_IDEMPOTENCY_KEY without the header."""

    missing = await _call(probe_app, "probe.touch_once")
    present = await _call(
        probe_app, "probe.touch_once", headers={"X-Idempotency-Key": "k-1"}
    )

    assert missing.status_code == 400
    assert missing.json()["error_code"] == "INVALID_IDEMPOTENCY_KEY"
    assert present.status_code == 200
    assert len(probe_of(probe_app).calls) == 1


async def test_a_malformed_key_is_400(probe_app: RunningApp) -> None:
    """A key over 255 characters is refused before anything runs."""

    response = await _call(
        probe_app, "probe.touch", headers={"X-Idempotency-Key": "k" * 256}
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_IDEMPOTENCY_KEY"
    assert probe_of(probe_app).calls == []


async def test_a_validation_failure_is_not_stored(probe_app: RunningApp) -> None:
    """After a 400, the corrected request with the same key runs."""
    key = {"X-Idempotency-Key": "fix-me"}

    bad = await _call(probe_app, "probe.touch", {"tag": 5}, headers=key)
    good = await _call(probe_app, "probe.touch", {"tag": "5"}, headers=key)

    assert (bad.status_code, good.status_code) == (400, 200)
    assert len(probe_of(probe_app).calls) == 1


async def test_a_server_error_is_not_stored(probe_app: RunningApp) -> None:
    """After a 500, the retry with the same key runs again and succeeds."""
    key = {"X-Idempotency-Key": "flaky-1"}

    first = await _call(probe_app, "probe.flaky", headers=key)
    second = await _call(probe_app, "probe.flaky", headers=key)

    assert (first.status_code, second.status_code) == (500, 200)
    assert "Idempotent-Replayed" not in second.headers
    assert len(probe_of(probe_app).calls) == 2


async def test_twenty_concurrent_identical_calls_have_one_effect(
    probe_app: RunningApp,
) -> None:
    """Exactly one call runs; the others are 409 in progress or replays."""
    key = {"X-Idempotency-Key": "burst-1"}

    responses = await asyncio.gather(
        *(_call(probe_app, "probe.touch", {"tag": "x"}, headers=key) for _ in range(20))
    )

    statuses = sorted(r.status_code for r in responses)
    assert len(probe_of(probe_app).calls) == 1
    assert set(statuses) <= {200, 409}
    fresh = [
        r
        for r in responses
        if r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    ]
    assert len(fresh) == 1
    conflicts = [r.json()["error_code"] for r in responses if r.status_code == 409]
    assert set(conflicts) <= {"IDEMPOTENCY_IN_PROGRESS"}


# -- circuit breaker -------------------------------------------------------


async def test_a_failing_service_opens_its_breaker_and_is_no_longer_called(
    probe_app: RunningApp,
) -> None:
    """After 4 failures: 503 CIRCUIT_OPEN with Retry-After, and no fifth call."""
    for _ in range(4):
        assert (await _call(probe_app, "probe.fail")).status_code == 500

    refused = await _call(probe_app, "probe.fail")
    other_service = await _call(probe_app, "queue.resume")

    assert refused.status_code == 503
    assert refused.json()["error_code"] == "CIRCUIT_OPEN"
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert len(probe_of(probe_app).calls) == 4
    assert other_service.status_code == 200
    actions = [r["action"] for r in await _audit(probe_app)]
    assert "breaker.opened" in actions


async def test_a_hung_call_is_given_up_counted_and_opens_the_breaker(
    probe_app: RunningApp,
) -> None:
    """Calls that never answer: 504 ACTION_TIMEOUT each, then the breaker opens."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    hung = [await _call(probe_app, "probe.hang") for _ in range(4)]
    elapsed = loop.time() - started

    refused = await _call(probe_app, "probe.hang")

    assert [r.status_code for r in hung] == [504] * 4
    assert {r.json()["error_code"] for r in hung} == {"ACTION_TIMEOUT"}
    assert "may or may not have taken effect" in hung[0].json()["error"]
    assert elapsed < 4 * 0.3 + 2
    assert refused.json()["error_code"] == "CIRCUIT_OPEN"
    assert len(probe_of(probe_app).calls) == 4
    records = [r for r in await _audit(probe_app) if r["action"] == "probe.hang"]
    assert [r["error_code"] for r in records][:4] == ["ACTION_TIMEOUT"] * 4


async def test_business_refusals_leave_the_breaker_closed(
    probe_app: RunningApp,
) -> None:
    """Six 409s in a row are answers, not failures."""
    for _ in range(6):
        assert (await _call(probe_app, "probe.refuse")).status_code == 409

    response = await _call(probe_app, "probe.touch")

    assert response.status_code == 200


# -- async executions and the status endpoint ------------------------------


async def _follow(
    app: RunningApp, where: str, subject: str = "alice"
) -> dict[str, Any]:
    for _ in range(200):
        response = await app.client.get(where, headers=app.auth(subject, "user"))
        body = response.json()
        assert response.status_code == 200, body
        if body["data"]["status"] not in ("queued", "running"):
            return dict(body["data"])
        await asyncio.sleep(0.02)
    raise AssertionError("the execution did not finish")


async def test_an_async_action_answers_202_and_runs_in_the_background(
    probe_app: RunningApp,
) -> None:
    """202 with execution id and Location; the status shows the result later."""

    response = await _call(probe_app, "probe.export", {"rows": 12, "pause": 0.1})

    assert response.status_code == 202
    data = response.json()["data"]
    assert response.headers["Location"] == data["location"]
    assert data["location"].endswith(data["execution_id"])
    done = await _follow(probe_app, response.headers["Location"])
    assert (done["status"], done["progress"], done["result"]) == (
        "succeeded",
        1.0,
        {"rows": 12},
    )
    [record] = await _audit(probe_app)
    assert (record["status"], record["outcome"]) == (202, "accepted")


async def test_another_user_cannot_see_an_execution(probe_app: RunningApp) -> None:
    """Someone else's execution id is 404, like one that does not exist."""
    response = await _call(probe_app, "probe.export", {"rows": 1})

    other = await probe_app.client.get(
        response.headers["Location"], headers=probe_app.auth("mallory", "user")
    )
    garbage = await probe_app.client.get(
        "/api/admin/action/status?execution_id=../../etc", headers=probe_app.auth()
    )

    assert other.status_code == 404
    assert garbage.status_code == 400


async def test_status_reports_registry_breakers_and_action_figures(
    probe_app: RunningApp,
) -> None:
    """Calls, error rates and percentiles of every action, all breakers."""
    for _ in range(3):
        await _call(probe_app, "probe.touch")
    await _call(probe_app, "probe.fail")

    response = await probe_app.client.get(
        "/api/admin/action/status", headers=probe_app.auth("ops", "operator")
    )

    assert response.status_code == 200
    data = response.json()["data"]
    registry = probe_app.app.ctx.registry.current
    assert data["registry"] == {"version": registry.version, "actions": len(registry)}
    assert data["breakers"]["probe"]["state"] == "closed"
    assert {"jobs", "queue", "probe"} <= set(data["breakers"])
    touch = data["actions"]["probe.touch"]
    assert (touch["calls"], touch["error_rate"]) == (3, 0.0)
    assert touch["latency_ms"]["p50"] > 0
    assert data["actions"]["probe.fail"]["error_rate"] == 1.0


async def test_status_overview_needs_a_reading_role(probe_app: RunningApp) -> None:
    """A plain user may follow executions but not read the overview."""

    response = await probe_app.client.get(
        "/api/admin/action/status", headers=probe_app.auth("u", "user")
    )
    anonymous = await probe_app.client.get("/api/admin/action/status")

    assert response.status_code == 403
    assert anonymous.status_code == 401


async def test_an_execution_whose_process_died_is_interrupted_at_the_next_start(
    make_app: Any,
    probe_registered: None,
    probe_dirs: dict[str, Any],
) -> None:
    """A 'running' row left by a dead process is reported interrupted after a start."""
    first = await make_app(**probe_dirs)
    stale = datetime.now(UTC) - timedelta(minutes=10)
    execution_id = str(uuid.uuid4())
    await first.db.execute(
        "INSERT INTO action_executions (id, action, status, actor, created_at, "
        "started_at, owner, heartbeat_at) VALUES ($1, 'probe.export', 'running', "
        "'alice', $2, $2, 'dead-host:1:x', $2)",
        execution_id,
        stale,
    )

    second = await make_app(**probe_dirs)
    response = await second.client.get(
        f"/api/admin/action/status?execution_id={execution_id}",
        headers=second.auth("alice", "user"),
    )

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "interrupted"


async def test_a_megabyte_payload_is_refused_and_not_copied_into_the_audit(
    probe_app: RunningApp,
) -> None:
    """A 1 MB string fails validation; the record says it was omitted."""

    response = await _call(probe_app, "probe.touch", {"tag": "x" * 1_000_000})

    assert response.status_code == 400
    [record] = await _audit(probe_app)
    assert set(record["payload"]) == {"omitted"}
    assert probe_of(probe_app).calls == []


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ('{"rows": 1, "pause": NaN}', "NaN"),
        ('{"rows": 1, "pause": Infinity}', "Infinity"),
        ('{"rows": 1, "pause": -Infinity}', "-Infinity"),
        ('{"rows": 1, "pause": 1e400}', "1e400"),
        ('{"rows": 1, "note": "\\ud800"}', "surrogate"),
        ('{"rows": 1, "rows": 2}', "'rows' appears twice"),
        ('{"rows": 1}, "action": "probe.touch"', "'action' appears twice"),
    ],
)
async def test_a_value_json_cannot_hold_is_malformed_and_audited(
    probe_app: RunningApp, payload: str, named: str
) -> None:
    """Non-finite numbers, lone surrogates, keys given twice: 400, in the trail.

    Python's parser would take them. No JSONB column can store the first two
    and the audit chain cannot encode them: the call used to fail at its audit
    record with a 500, and took its batch of records with it. A key given twice
    means the last value to this parser and the first to others.
    """
    body = f'{{"action": "probe.export", "payload": {payload}}}'

    response = await probe_app.client.post(
        "/api/admin/action",
        content=body.encode(),
        headers={"Content-Type": "application/json", **probe_app.auth("alice")},
    )

    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "MALFORMED_JSON"
    assert named in response.json()["error"]
    assert probe_of(probe_app).calls == []
    [record] = await _audit(probe_app)
    assert (record["error_code"], record["status"]) == ("MALFORMED_JSON", 400)
    assert (await verify_chain(probe_app.db)).intact


async def test_a_surrogate_pair_and_a_leading_bom_are_whole_json(
    probe_app: RunningApp,
) -> None:
    """Two surrogate escapes in a pair are one character; a UTF-8 BOM is ignored."""
    body = '{"action": "probe.touch", "payload": {"tag": "\\ud83c\\udfac"}}'

    response = await probe_app.client.post(
        "/api/admin/action",
        content=b"\xef\xbb\xbf" + body.encode(),
        headers={"Content-Type": "application/json", **probe_app.auth("alice")},
    )

    assert response.status_code == 200, response.text
    clapper = "\U0001f3ac"
    assert probe_of(probe_app).calls == [("touch", {"tag": clapper, "by": "alice"})]


async def test_a_user_agent_that_is_not_utf8_is_audited_as_whole_characters(
    probe_app: RunningApp,
) -> None:
    """Header bytes that are not UTF-8 become U+FFFD in the record; the call runs."""
    response = await probe_app.client.post(
        "/api/admin/action",
        json={"action": "probe.touch", "payload": {"tag": "a"}},
        headers={**probe_app.auth("alice"), "User-Agent": b"probe/1 \xff\xfe"},
    )

    assert response.status_code == 200, response.text
    assert len(probe_of(probe_app).calls) == 1
    [record] = await _audit(probe_app)
    assert record["user_agent"] == "probe/1 \ufffd\ufffd"
    assert (await verify_chain(probe_app.db)).intact


async def test_a_registry_reload_reads_the_breaker_policies_again(
    probe_app: RunningApp, probe_dirs: dict[str, Any]
) -> None:
    """After a reload, a tighter probe breaker opens after two failures."""
    (probe_dirs["policies_dir"] / "breakers.yaml").write_text(
        "services:\n  probe: {window_size: 2, minimum_calls: 2}\n"
    )
    actions = probe_dirs["actions_dir"] / "probe.yaml"
    actions.write_text(actions.read_text() + "\n# reloaded\n")

    outcome = probe_app.app.ctx.registry.reload()
    for _ in range(2):
        await _call(probe_app, "probe.fail")
    refused = await _call(probe_app, "probe.fail")

    assert outcome.ok and outcome.version != outcome.previous
    assert refused.json()["error_code"] == "CIRCUIT_OPEN"
    assert len(probe_of(probe_app).calls) == 2


# -- admission rides with the rate limit ------------------------------------


async def _revoked_token(app: RunningApp, subject: str) -> str:
    token, claims = issue_token(app.app.ctx.token_keys, subject, ["admin"])
    operator = CallContext(principal=Principal("ops", ("admin",)))
    await app.services["auth"].revoke(operator, subject=subject, jti=claims["jti"])
    return token


async def test_a_revoked_token_is_401_whatever_else_is_wrong_with_the_call(
    probe_app: RunningApp,
) -> None:
    """Admission answers first: an unknown action, a forbidden role or a bad
    payload sent with a revoked token is still 401 TOKEN_REVOKED, audited as
    the authenticate stage's refusal."""
    token = await _revoked_token(probe_app, "mallory")
    bearer = {"Authorization": f"Bearer {token}"}
    bodies = [
        {"action": "probe.nothing", "payload": {}},
        {"action": "probe.touch", "payload": {"tag": "a", "sneaky": 1}},
        {"action": "probe.touch", "payload": {"tag": "a"}},
    ]

    answers = [
        await probe_app.client.post("/api/admin/action", json=body, headers=bearer)
        for body in bodies
    ]

    assert [(a.status_code, a.json()["error_code"]) for a in answers] == [
        (401, "TOKEN_REVOKED")
    ] * 3
    assert probe_of(probe_app).calls == []
    records = await _audit(probe_app)
    assert [r["rule"] for r in records] == ["authenticate: TOKEN_REVOKED"] * 3
    assert {r["actor"] for r in records} == {"mallory"}


async def test_a_revoked_token_spends_none_of_its_subjects_rate_limit(
    probe_app: RunningApp,
) -> None:
    """Refused calls stop before the quotas: a valid token of the same subject
    then finds its rate class untouched."""
    token = await _revoked_token(probe_app, "erin")
    for _ in range(3):
        await probe_app.client.post(
            "/api/admin/action",
            json={"action": "probe.touch", "payload": {"tag": "a"}},
            headers={"Authorization": f"Bearer {token}"},
        )

    first = await _call(probe_app, "probe.touch", {"tag": "a"}, subject="erin")

    assert first.status_code == 200
    assert _remaining(first, "standard") == _limit(first, "standard") - 1


def _field(header: str, policy: str, key: str) -> int:
    # One item of a RateLimit or RateLimit-Policy field: "name";q=10;w=60, ...
    for item in header.split(","):
        name, *params = item.strip().split(";")
        if name.strip('"') == policy:
            values = dict(param.split("=", 1) for param in params)
            return int(values[key])
    raise AssertionError(f"no {policy} in {header!r}")


def _remaining(response: Any, policy: str) -> int:
    return _field(response.headers["RateLimit"], policy, "r")


def _limit(response: Any, policy: str) -> int:
    return _field(response.headers["RateLimit-Policy"], policy, "q")


async def test_a_call_over_its_limit_is_429_whatever_its_payload_and_claims_no_key(
    make_app: Any, probe_registered: None, probe_dirs: dict[str, Any]
) -> None:
    """The rate limit speaks before validation and idempotency: a bad payload
    or a reused key over the limit is 429, and the key stays unclaimed."""
    limits = probe_dirs["policies_dir"] / "rate_limits.yaml"
    document = yaml.safe_load(limits.read_text())
    document["rate_classes"]["standard"]["limit"] = 1
    limits.write_text(yaml.safe_dump(document))
    app = await make_app(**probe_dirs)
    first = await _call(app, "probe.touch", {"tag": "a"}, headers=_key("k1"))

    invalid = await _call(app, "probe.touch", {"tag": "a", "sneaky": 1})
    reused = await _call(app, "probe.touch", {"tag": "b"}, headers=_key("k1"))
    fresh = await _call(app, "probe.touch", {"tag": "c"}, headers=_key("k2"))

    assert first.status_code == 200
    assert [r.status_code for r in (invalid, reused, fresh)] == [429] * 3
    codes = {r.json()["error_code"] for r in (invalid, reused, fresh)}
    assert codes == {"RATE_LIMITED"}
    assert await app.state.hgetall(record_key("alice", "k1")) != {}
    assert await app.state.hgetall(record_key("alice", "k2")) == {}
    assert probe_of(app).calls == [("touch", {"tag": "a", "by": "alice"})]


def _key(key: str) -> dict[str, str]:
    return {"X-Idempotency-Key": key}
