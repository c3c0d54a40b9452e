"""Verified tokens that no longer count: revoked, of a disabled user, locked."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from agentos.auth.tokens import issue_token
from agentos.errors import LockedOut, TokenRevoked
from agentos.pipeline.access_policy import LockoutPolicy
from agentos.pipeline.lockout import Lockout
from agentos.pipeline.revocation import (
    Admission,
    Marks,
    Revocations,
    admission,
    sync_disabled_users,
)
from agentos.services.base import CallContext, Principal
from agentos.services.token_families import RevocationKeys
from agentos.state import StateStore
from tests.fixtures.app import AppMaker, RunningApp

ISSUED = 1_000.0


@pytest.mark.parametrize(
    ("marks", "expected"),
    [
        pytest.param(Marks(), Admission.ADMITTED, id="clean"),
        pytest.param(Marks(token_revoked=True), Admission.REVOKED, id="token"),
        pytest.param(Marks(family_revoked=True), Admission.REVOKED, id="family"),
        pytest.param(
            Marks(revoked_before=ISSUED + 0.5), Admission.REVOKED, id="before"
        ),
        pytest.param(
            Marks(revoked_before=ISSUED), Admission.ADMITTED, id="issued-at-mark"
        ),
        pytest.param(
            Marks(disabled=True, locked_ms=5), Admission.DISABLED, id="disabled"
        ),
        pytest.param(Marks(locked_ms=5), Admission.LOCKED, id="locked"),
        pytest.param(
            Marks(token_revoked=True, locked_ms=5),
            Admission.REVOKED,
            id="revoked-first",
        ),
    ],
)
def test_admission_weighs_the_marks_most_serious_first(
    marks: Marks, expected: Admission
) -> None:
    """Disabled beats revoked, revoked beats locked."""

    assert admission(marks, ISSUED) is expected


def token_claims(subject: str = "alice", **changes: Any) -> dict[str, Any]:
    """The claims ADMIT reads."""
    return {"sub": subject, "jti": uuid.uuid4().hex, "iat": int(time.time()), **changes}


async def test_a_clean_token_is_admitted(state: StateStore) -> None:
    """Nothing marked, nothing refused."""

    await Revocations(state).admit(token_claims())


async def test_a_revoked_token_id_is_refused(state: StateStore) -> None:
    """The auth service's revocation mark for one jti refuses that token only."""
    revoked, other = token_claims(), token_claims()
    await state.set(RevocationKeys("alice", revoked["jti"]).revoked_token, "1", ttl=60)

    with pytest.raises(TokenRevoked):
        await Revocations(state).admit(revoked)
    await Revocations(state).admit(other)


async def test_a_revoked_family_refuses_its_tokens_only(state: StateStore) -> None:
    """Tokens of a revoked sign-in session are refused; a tokenless family is not."""
    family = token_claims(fam="f1")
    await state.set(RevocationKeys("alice", "-", "f1").revoked_family, "1", ttl=60)

    with pytest.raises(TokenRevoked):
        await Revocations(state).admit(family)
    await Revocations(state).admit(token_claims(fam="f2"))


async def test_revoking_a_subject_refuses_its_older_tokens(state: StateStore) -> None:
    """Tokens issued before the mark are refused, later ones admitted."""
    now = time.time()
    await state.set(RevocationKeys("alice", "-").revoked_before, repr(now), ttl=60)

    with pytest.raises(TokenRevoked):
        await Revocations(state).admit(token_claims(iat=int(now) - 5))
    await Revocations(state).admit(token_claims(iat=int(now) + 2))
    await Revocations(state).admit(token_claims(subject="bob", iat=int(now) - 5))


async def test_a_disabled_user_is_refused_until_enabled(state: StateStore) -> None:
    """The disabled mark refuses even tokens issued after it."""
    revocations = Revocations(state)
    await revocations.set_disabled("alice", True)

    with pytest.raises(TokenRevoked, match="disabled"):
        await revocations.admit(token_claims(iat=int(time.time()) + 5))
    await revocations.set_disabled("alice", False)
    await revocations.admit(token_claims())


async def test_a_locked_subject_is_429_and_an_admitted_token_clears_failures(
    state: StateStore,
) -> None:
    """A subject lock refuses its tokens; an admitted token resets its count."""
    lockout = Lockout(state, LockoutPolicy(max_failures=3))
    for index in range(2):
        await lockout.record_failure(f"192.0.2.{index}", subject="bob")
    await Revocations(state).admit(token_claims(subject="bob"))
    after_success = await lockout.record_failure("192.0.2.9", subject="bob")
    for index in range(3):
        await lockout.record_failure(f"198.51.100.{index}", subject="alice")

    with pytest.raises(LockedOut) as caught:
        await Revocations(state).admit(token_claims(subject="alice"))

    assert (after_success.failures, after_success.locked) == (1, False)
    assert caught.value.retry_after > 0


# -- over HTTP ---------------------------------------------------------------


async def add_user(app: RunningApp, *, disabled: bool) -> str:
    """A row in the users table; returns its id."""
    user_id, now = str(uuid.uuid4()), datetime.now(UTC)
    await app.db.execute(
        "INSERT INTO users (id, username, roles, disabled, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $5)",
        user_id,
        f"user-{user_id[:8]}",
        ["admin"],
        disabled,
        now,
    )
    return user_id


async def test_a_disabled_users_token_is_401_token_revoked(make_app: AppMaker) -> None:
    """The users table says disabled: the user's valid token is refused."""
    app = await make_app()
    disabled, enabled = (
        await add_user(app, disabled=True),
        await add_user(app, disabled=False),
    )

    marked = await sync_disabled_users(app.db, app.state)
    refused = await app.client.get(
        "/api/admin/ssot", headers=app.auth(disabled, "admin")
    )
    served = await app.client.get("/api/admin/ssot", headers=app.auth(enabled, "admin"))

    assert marked == 1
    assert (refused.status_code, refused.json()["error_code"]) == (401, "TOKEN_REVOKED")
    assert served.status_code == 200


async def test_disabled_users_are_marked_when_a_worker_starts(
    make_app: AppMaker,
) -> None:
    """A fresh worker learns the disabled users from the table before serving."""
    first = await make_app()
    user = await add_user(first, disabled=True)

    second = await make_app()
    token = issue_token(second.app.ctx.token_keys, user, ["admin"])[0]
    answer = await second.client.get(
        "/api/admin/ssot", headers={"Authorization": f"Bearer {token}"}
    )

    assert answer.json()["error_code"] == "TOKEN_REVOKED"


async def test_a_token_revoked_through_the_auth_service_stops_working(
    make_app: AppMaker,
) -> None:
    """system.token.revoke's target refuses exactly the revoked token."""
    app = await make_app()
    keys = app.app.ctx.token_keys
    revoked, revoked_claims = issue_token(keys, "carol", ["admin"])
    kept, _ = issue_token(keys, "carol", ["admin"])
    operator = CallContext(principal=Principal("ops", ("admin",)))

    await app.services["auth"].revoke(
        operator, subject="carol", jti=revoked_claims["jti"]
    )
    refused = await app.client.get(
        "/api/admin/ssot", headers={"Authorization": f"Bearer {revoked}"}
    )
    served = await app.client.get(
        "/api/admin/ssot", headers={"Authorization": f"Bearer {kept}"}
    )

    assert (refused.status_code, refused.json()["error_code"]) == (401, "TOKEN_REVOKED")
    assert served.status_code == 200
