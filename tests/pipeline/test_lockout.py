"""Lockout: failed authentications lock an address or subject out for a while."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from agentos.errors import LockedOut
from agentos.pipeline.access_policy import LockoutPolicy
from agentos.pipeline.lockout import STATUS_TTL, Lockout, locks_now
from agentos.state import StateStore
from tests.fixtures.app import AppMaker
from tests.fixtures.policies import write_policies
from tests.fixtures.state import PassTime

POLICY = LockoutPolicy(max_failures=5, window_seconds=900, lock_seconds=900)


class Ticks:
    """A monotonic clock for a worker's memory of addresses, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("failures", "locks"),
    [
        pytest.param(4, False, id="four"),
        pytest.param(5, True, id="five"),
        pytest.param(6, True, id="six"),
    ],
)
def test_the_failure_that_reaches_the_limit_locks(failures: int, locks: bool) -> None:
    """Five failures of the default policy lock; four do not."""

    assert locks_now(failures, POLICY) is locks


async def test_five_failures_lock_an_address_for_the_lock_time(
    state: StateStore,
) -> None:
    """The fifth failure sets the lock; checking then answers 429 with Retry-After."""
    lockout = Lockout(state, POLICY)
    statuses = [await lockout.record_failure("192.0.2.1") for _ in range(5)]

    with pytest.raises(LockedOut) as caught:
        await lockout.check_address("192.0.2.1")

    assert [s.locked for s in statuses] == [False] * 4 + [True]
    assert [s.failures for s in statuses] == [1, 2, 3, 4, 5]
    assert 899 <= caught.value.retry_after <= 900
    assert caught.value.headers["Retry-After"] == str(caught.value.retry_after)


async def test_other_addresses_are_not_locked(state: StateStore) -> None:
    """A lock belongs to one address."""
    lockout = Lockout(state, POLICY)
    for _ in range(5):
        await lockout.record_failure("192.0.2.1")

    status = await lockout.check_address("2001:db8::5")

    assert not status.locked


async def test_a_success_resets_the_count(state: StateStore) -> None:
    """Four failures, a success, four failures: still not locked."""
    lockout = Lockout(state, POLICY)
    for _ in range(4):
        await lockout.record_failure("192.0.2.1")
    await lockout.check_address("192.0.2.1")

    await lockout.record_success("192.0.2.1")
    statuses = [await lockout.record_failure("192.0.2.1") for _ in range(4)]

    assert statuses[-1].failures == 4 and not statuses[-1].locked


async def test_failures_older_than_the_window_are_forgotten(
    state: StateStore, pass_time: PassTime
) -> None:
    """The count expires window_seconds after its first failure."""
    lockout = Lockout(
        state, LockoutPolicy(max_failures=2, window_seconds=1, lock_seconds=60)
    )
    await lockout.record_failure("192.0.2.1")

    await pass_time(1.2)
    status = await lockout.record_failure("192.0.2.1")

    assert (status.failures, status.locked) == (1, False)


async def test_a_lock_ends_after_the_lock_time(
    state: StateStore, pass_time: PassTime
) -> None:
    """After lock_seconds the address may try again."""
    ticks = Ticks()
    lockout = Lockout(state, LockoutPolicy(max_failures=1, lock_seconds=1), clock=ticks)
    await lockout.record_failure("192.0.2.1")

    await pass_time(1.2)
    ticks.now += STATUS_TTL
    status = await lockout.check_address("192.0.2.1")

    assert not status.locked


async def test_a_lock_set_by_another_worker_holds_here_within_a_second(
    state: StateStore,
) -> None:
    """A worker trusts what it read of an address for STATUS_TTL, then rereads."""
    ticks = Ticks()
    here, there = Lockout(state, POLICY, clock=ticks), Lockout(state, POLICY)
    await here.check_address("192.0.2.1")
    for _ in range(5):
        await there.record_failure("192.0.2.1")

    remembered = await here.check_address("192.0.2.1")
    ticks.now += STATUS_TTL
    with pytest.raises(LockedOut):
        await here.check_address("192.0.2.1")

    assert not remembered.locked


async def test_a_failure_with_a_subject_locks_the_subject_everywhere(
    state: StateStore,
) -> None:
    """Failures that identify a subject lock it, from any address."""
    lockout = Lockout(state, POLICY)
    for index in range(5):
        status = await lockout.record_failure(f"192.0.2.{index}", subject="alice")

    assert status.locked
    assert not (await lockout.check_address("192.0.2.9")).locked


async def test_clear_lifts_a_lock(state: StateStore) -> None:
    """system.lockout.clear: the address may authenticate again at once."""
    lockout = Lockout(state, POLICY)
    for _ in range(5):
        await lockout.record_failure("192.0.2.1")

    removed = await lockout.clear(address="192.0.2.1")

    assert removed == 1
    assert not (await lockout.check_address("192.0.2.1")).locked


# -- over HTTP ---------------------------------------------------------------


async def test_six_bad_tokens_in_a_row_from_one_address_are_locked_out(
    make_app: AppMaker,
) -> None:
    """Five 401s, then 429 LOCKED_OUT, even for a valid token from there."""
    app = await make_app()
    bad = {
        "Authorization": "Bearer "
        + jwt.encode({"sub": "x"}, "wrong-secret-wrong-secret-wrong!")
    }

    answers = [await app.client.get("/api/admin/ssot", headers=bad) for _ in range(6)]
    good = await app.client.get("/api/admin/ssot", headers=app.auth("ops", "admin"))

    assert [a.status_code for a in answers] == [401] * 5 + [429]
    locked = answers[-1]
    assert locked.json()["error_code"] == "LOCKED_OUT"
    assert 899 <= int(locked.headers["Retry-After"]) <= 900
    assert (good.status_code, good.json()["error_code"]) == (429, "LOCKED_OUT")


async def test_a_locked_address_does_not_lock_other_clients_behind_the_proxy(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """Behind a trusted proxy each client address is locked on its own."""
    app = await make_app(
        policies_dir=write_policies(tmp_path, access={"trusted_proxies": 1})
    )
    bad = {"Authorization": "Bearer junk", "X-Forwarded-For": "10.0.0.66"}
    for _ in range(5):
        await app.client.get("/api/admin/ssot", headers=bad)

    attacker = await app.client.get("/api/admin/ssot", headers=bad)
    other = await app.client.get(
        "/api/admin/ssot",
        headers={**app.auth("ops", "admin"), "X-Forwarded-For": "10.0.0.7"},
    )

    assert attacker.status_code == 429
    assert other.status_code == 200
