"""Idempotency keys: parsing, the record's state machine, and the two scripts."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from multidict import CIMultiDict

from agentos.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from agentos.pipeline.idempotency import (
    TRANSITIONS,
    Claim,
    Decision,
    Event,
    Idempotency,
    RecordState,
    Replay,
    decide,
    fingerprint,
    key_from_headers,
    record_key,
    storable,
)
from agentos.pipeline.revocation import admit_keys
from agentos.state.base import StateStore
from agentos.state.compound import one_slot
from tests.fixtures.state import PassTime


class _Headers(CIMultiDict[str]):
    """Request headers as Sanic hands them over: case-insensitive, multi-valued."""


# -- plain decisions -------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "same", "expected"),
    [
        pytest.param(RecordState.ABSENT, False, Decision.PROCEED, id="absent"),
        pytest.param(RecordState.IN_PROGRESS, True, Decision.IN_PROGRESS, id="running"),
        pytest.param(
            RecordState.IN_PROGRESS, False, Decision.MISMATCH, id="running-other"
        ),
        pytest.param(RecordState.COMPLETED, True, Decision.REPLAY, id="done"),
        pytest.param(RecordState.COMPLETED, False, Decision.MISMATCH, id="done-other"),
    ],
)
def test_decision_follows_state_and_fingerprint(
    state: RecordState, same: bool, expected: Decision
) -> None:
    """A reused key with another payload is refused whatever the record's state."""

    assert decide(state, same) is expected


def test_a_completed_record_never_goes_back_to_in_progress() -> None:
    """The transition table allows no way from COMPLETED but expiry."""

    leaving_completed = {e for (s, e) in TRANSITIONS if s is RecordState.COMPLETED}

    assert leaving_completed == {Event.EXPIRE}


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        pytest.param(200, True, id="success"),
        pytest.param(202, True, id="accepted"),
        pytest.param(409, True, id="business-refusal"),
        pytest.param(404, True, id="not-found"),
        pytest.param(400, False, id="validation"),
        pytest.param(500, False, id="server-error"),
        pytest.param(503, False, id="circuit-open"),
    ],
)
def test_only_final_answers_are_stored(status: int, kept: bool) -> None:
    """Validation failures and 5xx are released so that a corrected retry runs."""

    assert storable(status) is kept


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("X-Idempotency-Key", "")], id="empty"),
        pytest.param([("X-Idempotency-Key", "k" * 256)], id="256-chars"),
        pytest.param([("X-Idempotency-Key", "caf\u00e9")], id="non-ascii"),
        pytest.param([("X-Idempotency-Key", "a\tb")], id="control-char"),
        pytest.param(
            [("X-Idempotency-Key", "a"), ("Idempotency-Key", "b")], id="both-headers"
        ),
        pytest.param(
            [("Idempotency-Key", "a"), ("Idempotency-Key", "a")], id="repeated"
        ),
    ],
)
def test_malformed_keys_are_refused(headers: list[tuple[str, str]]) -> None:
    """A key that is empty, too long, not printable ASCII or sent twice is a 400."""

    with pytest.raises(InvalidIdempotencyKey) as caught:
        key_from_headers(_Headers(headers))

    assert caught.value.status == 400
    assert caught.value.error_code == "INVALID_IDEMPOTENCY_KEY"


def test_either_header_name_carries_the_key() -> None:
    """Both header names are read, and no header means no key."""

    assert key_from_headers(_Headers([("idempotency-key", "k" * 255)])) == "k" * 255
    assert key_from_headers(_Headers([("X-Idempotency-Key", "a b~")])) == "a b~"
    assert key_from_headers(_Headers()) is None


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    """The canonical JSON makes equal payloads equal, whatever their order."""

    a = fingerprint("job.cancel", {"job_id": "1", "reason": "x"})
    b = fingerprint("job.cancel", {"reason": "x", "job_id": "1"})
    c = fingerprint("job.cancel", {"reason": "y", "job_id": "1"})

    assert a == b != c
    assert fingerprint("job.retry", {"job_id": "1", "reason": "x"}) != a


def test_fingerprint_is_sha256_of_the_documented_canonical_text() -> None:
    """Sorted keys, no spaces, UTF-8 as is: records stored by any build agree."""
    text = '{"action":"job.cancel","payload":{"job_id":"1","reason":"zo\u00eb"}}'

    found = fingerprint("job.cancel", {"reason": "zo\u00eb", "job_id": "1"})

    assert found == hashlib.sha256(text.encode()).hexdigest()


def test_keys_are_scoped_per_caller() -> None:
    """The same key of two callers names two records."""

    assert record_key("alice", "k1") != record_key("bob", "k1")


# -- the scripts on both backends -----------------------------------------


@pytest.fixture
def store(state: StateStore) -> Idempotency:
    """Idempotency records kept 60 s, with a 5 s lease while running."""
    return Idempotency(state, ttl_seconds=60, lease_seconds=5)


async def test_first_call_claims_then_replays_after_completion(
    store: Idempotency,
) -> None:
    """The stored status, body and kept headers come back on a retry."""
    claim = await store.begin("alice", "k1", "fp")
    assert isinstance(claim, Claim)

    await store.complete(claim, 202, b'{"ok":true}', {"Location": "/x", "Server": "s"})
    replay = await store.begin("alice", "k1", "fp")

    assert replay == Replay(202, b'{"ok":true}', {"Location": "/x"})


async def test_retry_while_running_is_in_progress(store: Idempotency) -> None:
    """A second call with the key of a running one gets 409."""
    await store.begin("alice", "k1", "fp")

    with pytest.raises(IdempotencyInProgress):
        await store.begin("alice", "k1", "fp")


async def test_same_key_other_payload_is_reused(store: Idempotency) -> None:
    """A key used for another fingerprint is 422, running or completed."""
    claim = await store.begin("alice", "k1", "fp")

    with pytest.raises(IdempotencyKeyReused):
        await store.begin("alice", "k1", "other")
    await store.complete(claim, 200, b"{}", {})
    with pytest.raises(IdempotencyKeyReused):
        await store.begin("alice", "k1", "other")


async def test_unstorable_answer_frees_the_key(store: Idempotency) -> None:
    """After a 5xx, the same key runs again, even with a corrected payload."""
    claim = await store.begin("alice", "k1", "fp")

    await store.complete(claim, 503, b"{}", {})

    assert isinstance(await store.begin("alice", "k1", "corrected"), Claim)


async def test_two_callers_do_not_share_a_key(store: Idempotency) -> None:
    """Bob's call with Alice's key runs on its own."""
    await store.begin("alice", "k1", "fp")

    assert isinstance(await store.begin("bob", "k1", "fp"), Claim)


async def test_lapsed_lease_frees_the_key_and_late_finisher_is_ignored(
    state: StateStore, pass_time: PassTime
) -> None:
    """A dead caller's key frees itself; its late completion overwrites nothing."""
    store = Idempotency(state, ttl_seconds=60, lease_seconds=0.3)
    stale = await store.begin("alice", "k1", "fp")
    assert isinstance(stale, Claim)

    await pass_time(0.5)
    fresh = await store.begin("alice", "k1", "fp")
    late = await store.complete(stale, 200, b"late", {})

    assert isinstance(fresh, Claim)
    assert late is False
    with pytest.raises(IdempotencyInProgress):
        await store.begin("alice", "k1", "fp")


async def test_twenty_concurrent_calls_find_exactly_one_winner(
    store: Idempotency,
) -> None:
    """Of twenty identical racing calls one proceeds and nineteen get 409."""

    results = await asyncio.gather(
        *(store.begin("alice", "k1", "fp") for _ in range(20)), return_exceptions=True
    )

    claims = [r for r in results if isinstance(r, Claim)]
    in_progress = [r for r in results if isinstance(r, IdempotencyInProgress)]
    assert (len(claims), len(in_progress)) == (1, 19)


def test_a_record_key_shares_its_callers_hash_tag() -> None:
    """One script may claim the key, admit the caller and spend its quotas:
    the record lands in the slot of the caller's other keys."""
    claims = {"sub": "alice", "jti": "j1", "iat": 1, "fam": "f1"}

    keys = [record_key("alice", "any key at all {x}"), *admit_keys(claims)]

    assert one_slot(keys)
    assert not one_slot([record_key("alice", "k"), record_key("bob", "k")])
