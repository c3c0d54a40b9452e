"""Idempotency keys: a retried admin action runs once and answers the same.

A caller that may retry sends ``X-Idempotency-Key`` (``Idempotency-Key`` is
accepted as well): 1 to 255 printable ASCII characters, in exactly one
header. Keys are scoped per caller (the principal's subject), so two callers
never see each other's answers. The request is identified by a fingerprint,
the SHA-256 of the canonical JSON of the action and its validated payload.

Theory of operation. Each key has one record in the state store, whose life
is a small state machine::

    ABSENT ──begin──▶ IN_PROGRESS ──complete──▶ COMPLETED ──expire──▶ ABSENT
                        │    │
                        │    └──release (not storable) ──▶ ABSENT
                        └──expire (the lease lapsed: its process died)──▶ ABSENT

``begin`` and ``complete`` are each one atomic script, so twenty identical
calls that race find exactly one winner: the first turns ABSENT into
IN_PROGRESS and runs the action; the others see IN_PROGRESS and are answered
409 ``IDEMPOTENCY_IN_PROGRESS``. A call that finds the record under another
fingerprint is 422 ``IDEMPOTENCY_KEY_REUSED`` whatever its state; one that
finds it COMPLETED under the same fingerprint gets the stored answer back,
byte for byte, with ``Idempotent-Replayed: true`` (so the body's trace id
names the call that ran).

An IN_PROGRESS record lives for a lease (``lease_seconds``) rather than the
full retention, so the key of a process that died mid-call frees itself;
``complete`` then writes the answer only if the record still carries the
caller's owner token, so a late finisher never overwrites a newer call.
Answers with a status of 400 (validation) or 500 and more are not stored:
the record is released, so a corrected retry runs. Everything else (success,
403, 404, a 409 refusal) is kept for ``ttl_seconds``.
"""

from __future__ import annotations

import enum
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from agentos.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from agentos.pipeline.scopes import subject_scope
from agentos.state.base import Script, StateStore, Value
from agentos.state.compound import Step

if TYPE_CHECKING:
    from agentos.state.keyspace import Keyspace

HEADERS = ("X-Idempotency-Key", "Idempotency-Key")
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("Location", "Retry-After")
"""Headers of an answer that a replay repeats (``Content-Type`` always)."""


class RecordState(enum.Enum):
    """Where an idempotency record is in its life."""

    ABSENT = "absent"  # no call with this key within the retention
    IN_PROGRESS = "in_progress"  # a call holds the lease and is running
    COMPLETED = "completed"  # the answer is stored for replay


class Event(enum.Enum):
    """What happens to a record."""

    BEGIN = "begin"  # a call with this key arrives and finds it ABSENT
    COMPLETE = "complete"  # the call ends with a storable answer
    RELEASE = "release"  # the call ends with an answer that must not be kept
    EXPIRE = "expire"  # the lease or the retention passes


TRANSITIONS: dict[tuple[RecordState, Event], RecordState] = {
    (RecordState.ABSENT, Event.BEGIN): RecordState.IN_PROGRESS,
    (RecordState.IN_PROGRESS, Event.COMPLETE): RecordState.COMPLETED,
    (RecordState.IN_PROGRESS, Event.RELEASE): RecordState.ABSENT,
    (RecordState.IN_PROGRESS, Event.EXPIRE): RecordState.ABSENT,
    (RecordState.COMPLETED, Event.EXPIRE): RecordState.ABSENT,
}
"""The legal transitions; anything else leaves the record as it is."""


class Decision(enum.Enum):
    """What ``begin`` tells the caller to do."""

    PROCEED = "proceed"  # the record was ABSENT: run the action
    IN_PROGRESS = "in_progress"  # same request still running: 409
    REPLAY = "replay"  # same request already answered: send that answer
    MISMATCH = "mismatch"  # the key was used for another request: 422


def decide(state: RecordState, same_fingerprint: bool) -> Decision:
    """What a call with a key finds, given the record's state and fingerprint."""
    if state is RecordState.ABSENT:
        return Decision.PROCEED
    if not same_fingerprint:
        return Decision.MISMATCH
    if state is RecordState.IN_PROGRESS:
        return Decision.IN_PROGRESS
    return Decision.REPLAY


def storable(status: int) -> bool:
    """Whether an answer with ``status`` is kept for replay."""
    return status != 400 and status < 500


# -- the request side ------------------------------------------------------


class Headers(Protocol):
    """A multi-valued header mapping (Sanic's and httpx's both fit)."""

    def getall(self, key: str, default: list[str], /) -> list[str]: ...


def key_from_headers(headers: Headers) -> str | None:
    """The request's idempotency key, ``None`` if it sent none, or raise 400."""
    values = [value for name in HEADERS for value in headers.getall(name, [])]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidIdempotencyKey(
            "Send the idempotency key in exactly one header, once.",
            details=[{"header": HEADERS[0], "count": len(values)}],
        )
    return check_key(values[0])


def check_key(key: str) -> str:
    """``key`` if it is 1 to 255 printable ASCII characters, else raise 400."""
    if 1 <= len(key) <= MAX_KEY_LENGTH and all(" " <= ch <= "~" for ch in key):
        return key
    raise InvalidIdempotencyKey(
        f"The idempotency key must be 1 to {MAX_KEY_LENGTH} printable ASCII "
        "characters; send a fresh random key (a UUID is a good choice).",
        details=[{"header": HEADERS[0], "length": len(key)}],
    )


def fingerprint(action: str, payload: Any) -> str:
    """SHA-256 of the canonical JSON of the action and its payload."""
    text = _CANONICAL.encode({"action": action, "payload": payload})
    return hashlib.sha256(text.encode()).hexdigest()


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)
"""Built once: ``json.dumps`` with options builds an encoder on every call."""


def record_key(subject: str, key: str) -> str:
    """The state key of a caller's idempotency key.

    It carries the subject's hash tag, like every key about the caller, so
    that ``BEGIN`` can run in the round trip that admits the caller and
    spends its rate limit (``agentos.state.compound``). The key itself is
    hashed: it may hold any printable ASCII.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"idempotency:{subject_scope(subject)}:{digest}"


# -- the two scripts -------------------------------------------------------

_BEGIN_LUA = """
local found = redis.call('HMGET', KEYS[1], 'state', 'fingerprint', 'status',
                         'body', 'headers')
if not found[1] then
    redis.call('HSET', KEYS[1], 'state', 'in_progress', 'fingerprint', ARGV[1],
               'owner', ARGV[2])
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {'proceed'}
end
if found[2] ~= ARGV[1] then
    return {'mismatch'}
end
if found[1] == 'in_progress' then
    return {'in_progress'}
end
return {'replay', found[3], found[4], found[5]}
"""


def _begin(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[Any]:
    found = view.hgetall(keys[0])
    state = RecordState(found["state"].decode()) if found else RecordState.ABSENT
    same = found.get("fingerprint") == args[0].encode()
    decision = decide(state, same)

    if decision is Decision.PROCEED:
        view.hset(
            keys[0], {"state": "in_progress", "fingerprint": args[0], "owner": args[1]}
        )
        view.expire(keys[0], int(args[2]) / 1000)
        return [decision.value]
    if decision is Decision.REPLAY:
        return [decision.value, found["status"], found["body"], found["headers"]]
    return [decision.value]


BEGIN = Script("idempotency.begin", _BEGIN_LUA, _begin)
"""``KEYS[1]`` record; ``ARGV`` fingerprint, owner token, lease in ms.

Returns ``[decision]``, or ``["replay", status, body, headers]``.
"""

_COMPLETE_LUA = """
local found = redis.call('HMGET', KEYS[1], 'state', 'owner')
if found[1] ~= 'in_progress' or found[2] ~= ARGV[1] then
    return 0
end
if ARGV[2] == 'release' then
    redis.call('DEL', KEYS[1])
    return 1
end
redis.call('HSET', KEYS[1], 'state', 'completed', 'status', ARGV[3],
           'body', ARGV[4], 'headers', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
"""


def _complete(view: Keyspace, keys: list[str], args: list[str], now: float) -> int:
    found = view.hgetall(keys[0])
    if found.get("state") != b"in_progress" or found.get("owner") != args[0].encode():
        return 0
    if args[1] == Event.RELEASE.value:
        return view.delete(keys[0])

    fields: dict[str, Value] = {
        "state": "completed",
        "status": args[2],
        "body": args[3],
        "headers": args[4],
    }
    view.hset(keys[0], fields)
    view.expire(keys[0], int(args[5]) / 1000)
    return 1


COMPLETE = Script("idempotency.complete", _COMPLETE_LUA, _complete)
"""``KEYS[1]`` record; ``ARGV`` owner, ``complete`` or ``release``, status,
body, headers (JSON), retention in ms. Returns 1 if this owner still held it."""


# -- the adapter -----------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A call's hold on its key: it runs the action and must complete."""

    key: str
    owner: str


@dataclass(frozen=True)
class Replay:
    """A stored answer to send again."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Idempotency:
    """Begins and completes idempotency records in the state store."""

    def __init__(
        self, state: StateStore, *, ttl_seconds: float, lease_seconds: float
    ) -> None:
        self.state = state
        self.ttl_ms = round(ttl_seconds * 1000)
        self.lease_ms = round(lease_seconds * 1000)

    async def begin(self, subject: str, key: str, print_: str) -> Claim | Replay:
        """Claim ``key`` for this call, or return the answer to replay.

        Raises ``IdempotencyInProgress`` (409) or ``IdempotencyKeyReused`` (422).
        """
        claim, step = self.plan(subject, key, print_)
        return self.outcome(claim, await self.state.run(BEGIN, step.keys, step.args))

    def plan(self, subject: str, key: str, print_: str) -> tuple[Claim, Step]:
        """What ``begin`` runs, as a step to run with others (see ``outcome``)."""
        claim = Claim(record_key(subject, key), secrets.token_hex(8))
        step = Step(BEGIN, [claim.key], [print_, claim.owner, self.lease_ms])
        return claim, step

    def outcome(self, claim: Claim, reply: Sequence[Any]) -> Claim | Replay:
        """What ``BEGIN``'s reply means for ``claim``: run, replay, 409 or 422."""
        decision = Decision(reply[0])
        if decision is Decision.PROCEED:
            return claim
        if decision is Decision.REPLAY:
            return Replay(int(reply[1]), reply[2].encode(), json.loads(reply[3]))
        if decision is Decision.IN_PROGRESS:
            raise IdempotencyInProgress()
        raise IdempotencyKeyReused()

    async def complete(
        self, claim: Claim, status: int, body: bytes, headers: Mapping[str, str]
    ) -> bool:
        """Store the answer (or release the key if it is not storable)."""
        if not storable(status):
            return await self.release(claim)
        kept = {name: value for name, value in headers.items() if name in KEPT_HEADERS}
        args: list[Value] = [
            claim.owner,
            Event.COMPLETE.value,
            status,
            body,
            json.dumps(kept),
            self.ttl_ms,
        ]
        return bool(await self.state.run(COMPLETE, [claim.key], args))

    async def release(self, claim: Claim) -> bool:
        """Forget the claim, so that a retry with the same key runs."""
        args: list[Value] = [claim.owner, Event.RELEASE.value, 0, "", "{}", self.ttl_ms]
        return bool(await self.state.run(COMPLETE, [claim.key], args))


def replay_headers(replay: Replay) -> dict[str, str]:
    """The headers a replayed answer is sent with."""
    return {**replay.headers, REPLAYED_HEADER: "true"}
