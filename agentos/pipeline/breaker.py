"""Circuit breakers: stop calling a target service that keeps failing.

There is one breaker per target service (the first half of an action's
``target``), configured in ``policies/breakers.yaml``; two services never
share state. The state lives in the state store, so every worker on every
host sees the same breaker.

Theory of operation. A breaker is CLOSED, OPEN or HALF_OPEN::

    CLOSED ──failure or slow-call rate at threshold──▶ OPEN
    OPEN ──open_seconds pass (noticed by the next call)──▶ HALF_OPEN
    HALF_OPEN ──half_open_calls trials, rates below threshold──▶ CLOSED
    HALF_OPEN ──half_open_calls trials, a rate at threshold──▶ OPEN
    any ──trip (an operator)──▶ OPEN       any ──reset (an operator)──▶ CLOSED

In CLOSED, the outcome of every call enters a count-based sliding window of
the last ``window_size`` calls. Once the window holds ``minimum_calls``
outcomes, a failure rate or a slow-call rate (calls longer than
``slow_call_seconds``) at or above its threshold opens the breaker. In OPEN
every call is refused with 503 ``CIRCUIT_OPEN`` and ``Retry-After`` without
touching the service. In HALF_OPEN at most ``half_open_calls`` trial calls
are let through, each under a permit that expires after
``trial_timeout_seconds``: a trial that hangs gives its place to another
instead of holding the breaker half-open forever, and its late outcome is
ignored. When all trials have reported, the same rates decide.

Only the service's own failures count: an ``AgentOSError`` below 500 (a 409
for a finished job, a 404) is the service answering correctly and is
recorded as a success. Every transition bumps a generation number; an
outcome is counted only in the generation its call started in, so calls
that began before a breaker opened cannot close or reopen it afterwards.

Round trips. In CLOSED a successful call costs none and a failed one one
script. Each worker keeps the state the last reply showed for
``cache_seconds`` and skips ``ACQUIRE`` while it is CLOSED; it holds back
its successes for up to ``flush_seconds`` and reports them in one ``RECORD``
with the next failure or on a timer (a string of outcome marks, counted in
order), so a window fills in the order calls ended, give or take that
delay. A breaker opened by another worker is seen by this one at its next
report or when the cached state ages out, whichever comes first; in OPEN
and HALF_OPEN every call asks the store. The decisions are plain functions
(``evaluate``, ``TRANSITIONS``) that the Python twins call and the Lua bodies
mirror.

A call that hangs is given up after ``call_timeout_seconds`` by the pipeline
(``agentos.pipeline.runner``): it is cancelled, answered 504
``ACTION_TIMEOUT`` and recorded here as a slow failure, so a service whose
calls hang rather than fail opens its breaker like one that fails.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentos.errors import AgentOSError, CircuitOpen, ConfigError
from agentos.logs import log_event
from agentos.state.base import Script, StateStore

if TYPE_CHECKING:
    from agentos.state.keyspace import Keyspace

logger = logging.getLogger("agentos.breaker")

T = TypeVar("T")
POLICY_FILE = "breakers.yaml"
SUCCESS_FLUSH_SECONDS = 0.1
"""How long a worker may hold back the successes it saw in CLOSED."""


class State(enum.Enum):
    """Where a breaker is."""

    CLOSED = "closed"  # calls pass; outcomes fill the sliding window
    OPEN = "open"  # calls are refused until the wait is over
    HALF_OPEN = "half_open"  # a few trial calls decide whether to close


class Event(enum.Enum):
    """What moves a breaker; each value is also the logged transition's verb."""

    RATE_EXCEEDED = "opened"  # CLOSED: the window's failure/slow rate hit its threshold
    WAIT_OVER = "half_opened"  # OPEN: open_seconds have passed
    TRIALS_PASSED = "closed"  # HALF_OPEN: every trial reported, rates fine
    TRIALS_FAILED = "reopened"  # HALF_OPEN: every trial reported, a rate too high
    TRIP = "tripped"  # an operator forced it open
    RESET = "reset"  # an operator forced it closed


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.CLOSED, Event.RATE_EXCEEDED): State.OPEN,
    (State.OPEN, Event.WAIT_OVER): State.HALF_OPEN,
    (State.HALF_OPEN, Event.TRIALS_PASSED): State.CLOSED,
    (State.HALF_OPEN, Event.TRIALS_FAILED): State.OPEN,
    **{(state, Event.TRIP): State.OPEN for state in State},
    **{(state, Event.RESET): State.CLOSED for state in State},
}
"""The legal transitions; an event missing here leaves the breaker as it is."""


class Outcome(enum.Enum):
    """How a call ended, as one character of the sliding window."""

    OK = "0"
    FAILED = "1"
    SLOW = "2"  # succeeded, but took longer than slow_call_seconds
    SLOW_FAILED = "3"


FAILED_MARKS = (Outcome.FAILED.value, Outcome.SLOW_FAILED.value)
SLOW_MARKS = (Outcome.SLOW.value, Outcome.SLOW_FAILED.value)


# -- configuration ---------------------------------------------------------


class BreakerPolicy(BaseModel):
    """How one service's breaker decides; every field has a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_rate_threshold: float = Field(default=50, gt=0, le=100)
    slow_call_rate_threshold: float = Field(default=100, gt=0, le=100)
    slow_call_seconds: float = Field(default=5, gt=0)
    window_size: int = Field(default=20, ge=1, le=1000)
    minimum_calls: int = Field(default=10, ge=1, le=1000)
    open_seconds: float = Field(default=30, gt=0)
    half_open_calls: int = Field(default=3, ge=1, le=100)
    trial_timeout_seconds: float = Field(default=10, gt=0)
    call_timeout_seconds: float = Field(default=30, gt=0)
    """How long the pipeline waits for a dispatched call before giving it up."""


class BreakerPolicies(BaseModel):
    """``policies/breakers.yaml``: defaults and per-service overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: BreakerPolicy = BreakerPolicy()
    services: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def for_service(self, service: str) -> BreakerPolicy:
        """The defaults with the service's overrides applied."""
        overrides = self.services.get(service) or {}
        return BreakerPolicy.model_validate({**self.defaults.model_dump(), **overrides})


def load_policies(policies_dir: Path) -> BreakerPolicies:
    """Read ``breakers.yaml`` (absent: the defaults); raise ``ConfigError``."""
    path = policies_dir / POLICY_FILE
    if not path.exists():
        return BreakerPolicies()
    try:
        policies = BreakerPolicies.model_validate(
            yaml.safe_load(path.read_text()) or {}
        )
        for service in policies.services:
            policies.for_service(service)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path} is not a valid breaker policy: {exc}") from None
    return policies


# -- decisions, free of I/O ------------------------------------------------


def classify(
    error: BaseException | None, seconds: float, policy: BreakerPolicy
) -> Outcome:
    """The outcome of a call that raised ``error`` (or not) after ``seconds``."""
    failed = error is not None and not _business_refusal(error)
    slow = seconds > policy.slow_call_seconds
    if failed:
        return Outcome.SLOW_FAILED if slow else Outcome.FAILED
    return Outcome.SLOW if slow else Outcome.OK


def _business_refusal(error: BaseException) -> bool:
    return isinstance(error, AgentOSError) and error.status < 500


def rates(window: str) -> tuple[float, float]:
    """Failure and slow-call rates, in percent, of a window of outcome marks."""
    if not window:
        return 0.0, 0.0
    failed = sum(window.count(mark) for mark in FAILED_MARKS)
    slow = sum(window.count(mark) for mark in SLOW_MARKS)
    return failed * 100 / len(window), slow * 100 / len(window)


def evaluate(state: State, window: str, policy: BreakerPolicy) -> Event | None:
    """The event a window of outcomes triggers in ``state``, if any."""
    failed, slow = rates(window)
    too_bad = (
        failed >= policy.failure_rate_threshold
        or slow >= policy.slow_call_rate_threshold
    )
    if state is State.CLOSED and len(window) >= policy.minimum_calls and too_bad:
        return Event.RATE_EXCEEDED
    if state is State.HALF_OPEN and len(window) >= policy.half_open_calls:
        return Event.TRIALS_FAILED if too_bad else Event.TRIALS_PASSED
    return None


def slide(window: str, position: int, mark: str, size: int) -> tuple[str, int]:
    """Add ``mark`` to a ring of ``size`` marks; return the ring and next slot."""
    if len(window) < size:
        return window + mark, 0
    window = window[:position] + mark + window[position + 1 :]
    return window, (position + 1) % size


# -- the scripts -----------------------------------------------------------
# KEYS of every script: the breaker's hash, then its trial-permit sorted set;
# both carry the service as hash tag. ARGV starts with the policy's numbers
# in ``_policy_args`` order. Replies: state, generation, retry-after in ms,
# permit, transition (the Event's value, "" for none).

_LUA_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fail_thr, slow_thr = tonumber(ARGV[1]), tonumber(ARGV[2])
local size, minimum = tonumber(ARGV[3]), tonumber(ARGV[4])
local open_ms, trials = tonumber(ARGV[5]), tonumber(ARGV[6])
local trial_ms = tonumber(ARGV[7])
local b = redis.call('HMGET', KEYS[1], 'state', 'gen', 'window', 'pos', 'until')
local state, gen = b[1] or 'closed', tonumber(b[2] or '0')
local window, pos, till = b[3] or '', tonumber(b[4] or '0'), tonumber(b[5] or '0')

local function move(to, event, until_ms)
    gen = gen + 1
    state = to
    window, pos, till = '', 0, until_ms
    redis.call('HSET', KEYS[1], 'state', to, 'gen', gen, 'window', '', 'pos', 0,
               'until', until_ms)
    redis.call('DEL', KEYS[2])
    return event
end
"""

_ACQUIRE_LUA = (
    _LUA_PRELUDE
    + """
local event = ''
if state == 'open' then
    if now < till then
        return {state, gen, till - now, '', event}
    end
    event = move('half_open', 'half_opened', 0)
end
if state == 'half_open' then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
    if redis.call('ZCARD', KEYS[2]) + #window >= trials then
        local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
        local wait = trial_ms
        if first[2] then wait = tonumber(first[2]) - now end
        return {state, gen, wait, '', event}
    end
    redis.call('ZADD', KEYS[2], now + trial_ms, ARGV[8])
    return {state, gen, 0, ARGV[8], event}
end
return {state, gen, 0, '', event}
"""
)

_RECORD_LUA = (
    _LUA_PRELUDE
    + """
if tonumber(ARGV[8]) ~= gen or state == 'open' then
    return {state, gen, math.max(till - now, 0), '', ''}
end
if state == 'half_open' and redis.call('ZREM', KEYS[2], ARGV[9]) == 0 then
    return {state, gen, 0, '', ''}
end
local limit = size
if state == 'half_open' then limit = trials end
local event = ''
local started = gen
for i = 1, #ARGV[10] do
    if gen ~= started then break end
    local mark = string.sub(ARGV[10], i, i)
    if #window < limit then
        window = window .. mark
    else
        window = string.sub(window, 1, pos) .. mark .. string.sub(window, pos + 2)
        pos = (pos + 1) % limit
    end
    local _, failed = string.gsub(window, '[13]', '')
    local _, slow = string.gsub(window, '[23]', '')
    local too_bad = failed * 100 >= fail_thr * #window
        or slow * 100 >= slow_thr * #window
    if state == 'closed' and #window >= minimum and too_bad then
        event = move('open', 'opened', now + open_ms)
    elseif state == 'half_open' and #window >= trials then
        if too_bad then
            event = move('open', 'reopened', now + open_ms)
        else
            event = move('closed', 'closed', 0)
        end
    end
end
if gen == started then
    redis.call('HSET', KEYS[1], 'window', window, 'pos', pos)
end
return {state, gen, math.max(till - now, 0), '', event}
"""
)

_FORCE_LUA = (
    _LUA_PRELUDE
    + """
local event
if ARGV[8] == 'tripped' then
    event = move('open', 'tripped', now + tonumber(ARGV[9]))
else
    event = move('closed', 'reset', 0)
end
return {state, gen, math.max(till - now, 0), '', event}
"""
)


@dataclass
class _Breaker:
    """The Python twins' view of one breaker's hash."""

    view: Keyspace
    keys: list[str]
    now_ms: int
    state: State = State.CLOSED
    gen: int = 0
    window: str = ""
    pos: int = 0
    till: int = 0

    @classmethod
    def load(cls, view: Keyspace, keys: list[str], now: float) -> _Breaker:
        found = view.hgetall(keys[0])
        return cls(
            view,
            keys,
            int(now * 1000),
            state=State(found.get("state", b"closed").decode()),
            gen=int(found.get("gen", 0)),
            window=found.get("window", b"").decode(),
            pos=int(found.get("pos", 0)),
            till=int(found.get("until", 0)),
        )

    def move(self, event: Event, until_ms: int = 0) -> str:
        self.state = TRANSITIONS[(self.state, event)]
        self.gen += 1
        self.window, self.pos, self.till = "", 0, until_ms
        fields = {"state": self.state.value, "gen": self.gen, "window": "", "pos": 0}
        self.view.hset(self.keys[0], {**fields, "until": until_ms})
        self.view.delete(self.keys[1])
        return event.value

    def reply(
        self, permit: str = "", event: str = "", wait: int | None = None
    ) -> list[Any]:
        left = max(self.till - self.now_ms, 0) if wait is None else wait
        return [self.state.value, self.gen, left, permit, event]


def _policy_from(args: list[str]) -> BreakerPolicy:
    return BreakerPolicy(
        failure_rate_threshold=float(args[0]),
        slow_call_rate_threshold=float(args[1]),
        window_size=int(args[2]),
        minimum_calls=int(args[3]),
        open_seconds=int(args[4]) / 1000,
        half_open_calls=int(args[5]),
        trial_timeout_seconds=int(args[6]) / 1000,
    )


def _acquire(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[Any]:
    policy, b = _policy_from(args), _Breaker.load(view, keys, now)
    trial_ms = round(policy.trial_timeout_seconds * 1000)
    event = ""
    if b.state is State.OPEN:
        if b.now_ms < b.till:
            return b.reply()
        event = b.move(Event.WAIT_OVER)
    if b.state is State.CLOSED:
        return b.reply(event=event)

    view.zremrangebyscore(keys[1], float("-inf"), b.now_ms)
    if view.zcard(keys[1]) + len(b.window) >= policy.half_open_calls:
        first = view.zrange(keys[1], 0, 0)
        wait = int(first[0][1]) - b.now_ms if first else trial_ms
        return b.reply(event=event, wait=wait)
    view.zadd(keys[1], {args[7]: b.now_ms + trial_ms})
    return b.reply(permit=args[7], event=event, wait=0)


def _record(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[Any]:
    policy, b = _policy_from(args), _Breaker.load(view, keys, now)
    if int(args[7]) != b.gen or b.state is State.OPEN:
        return b.reply()
    if b.state is State.HALF_OPEN and not view.zrem(keys[1], args[8]):
        return b.reply(wait=0)

    limit = policy.window_size if b.state is State.CLOSED else policy.half_open_calls
    started, event = b.gen, ""
    for mark in args[9]:
        if b.gen != started:
            break  # the rest belongs to a generation that has ended
        b.window, b.pos = slide(b.window, b.pos, mark, limit)
        event = _evaluate_mark(b, policy) or event
    if b.gen == started:
        view.hset(keys[0], {"window": b.window, "pos": b.pos})
    return b.reply(event=event)


def _evaluate_mark(b: _Breaker, policy: BreakerPolicy) -> str:
    event = evaluate(b.state, b.window, policy)
    if event is None:
        return ""
    open_until = b.now_ms + round(policy.open_seconds * 1000)
    return b.move(event, 0 if event is Event.TRIALS_PASSED else open_until)


def _force(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[Any]:
    b = _Breaker.load(view, keys, now)
    if args[7] == Event.TRIP.value:
        return b.reply(event=b.move(Event.TRIP, b.now_ms + int(args[8])))
    return b.reply(event=b.move(Event.RESET))


ACQUIRE = Script("breaker.acquire", _ACQUIRE_LUA, _acquire)
"""ARGV: policy numbers, then a permit id to issue in HALF_OPEN."""
RECORD = Script("breaker.record", _RECORD_LUA, _record)
"""ARGV: policy numbers, then the calls' generation, a permit, their marks in order."""
FORCE = Script("breaker.force", _FORCE_LUA, _force)
"""ARGV: policy numbers, then ``tripped`` (and the open time in ms) or ``reset``."""


def _policy_args(policy: BreakerPolicy) -> list[float | int]:
    return [
        policy.failure_rate_threshold,
        policy.slow_call_rate_threshold,
        policy.window_size,
        policy.minimum_calls,
        round(policy.open_seconds * 1000),
        policy.half_open_calls,
        round(policy.trial_timeout_seconds * 1000),
    ]


def breaker_keys(service: str) -> list[str]:
    """The state keys of a service's breaker: its hash and its trial permits."""
    return [f"breaker:{{{service}}}", f"breaker:{{{service}}}:trials"]


# -- the adapter -----------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """A breaker as one reply of a script showed it."""

    service: str
    state: State
    generation: int
    retry_after_ms: int = 0
    permit: str = ""
    transition: str = ""

    @classmethod
    def from_reply(cls, service: str, reply: list[Any]) -> Snapshot:
        state, gen, wait, permit, event = [*reply, "", ""][:5]
        return cls(
            service, State(state), int(gen), int(wait), permit or "", event or ""
        )

    def as_dict(self) -> dict[str, Any]:
        """The breaker for the status endpoint."""
        return {
            "state": self.state.value,
            "generation": self.generation,
            "retry_after_seconds": round(self.retry_after_ms / 1000, 3),
        }


@dataclass(frozen=True)
class Permit:
    """Leave to call a service once, in the generation it was granted in."""

    service: str
    generation: int
    permit: str = ""
    started: float = field(default_factory=time.perf_counter)


Transition = Callable[[Snapshot, bool], Awaitable[None]]
"""Called with the snapshot after a transition and whether an operator forced it."""


@dataclass
class _Known:
    state: State
    generation: int
    seen: float
    open_until: float = 0.0


class Breakers:
    """Every service's breaker, over the state store."""

    def __init__(
        self,
        state: StateStore,
        policies: BreakerPolicies,
        *,
        cache_seconds: float = 1.0,
        flush_seconds: float = SUCCESS_FLUSH_SECONDS,
        on_transition: Transition | None = None,
    ) -> None:
        self.state = state
        self.policies = policies
        self.cache_seconds = cache_seconds
        self.flush_seconds = flush_seconds
        self.on_transition = on_transition
        self._known: dict[str, _Known] = {}
        self._successes: dict[str, tuple[int, int]] = {}  # service: generation, count
        self._policies: dict[str, BreakerPolicy] = {}
        self._flusher: asyncio.Task[None] | None = None

    def use(self, policies: BreakerPolicies) -> None:
        """Apply new policies (a reload); states and windows stay as they are."""
        self.policies = policies
        self._policies = {}

    def policy(self, service: str) -> BreakerPolicy:
        """The policy of ``service``'s breaker (resolved once per service)."""
        found = self._policies.get(service)
        if found is None:
            found = self._policies[service] = self.policies.for_service(service)
        return found

    async def acquire(self, service: str) -> Permit:
        """Leave to call ``service`` now, or raise ``CircuitOpen`` (503)."""
        known = self._fresh(service)
        if known is not None and known.state is State.CLOSED:
            return Permit(service, known.generation)
        waiting = known.open_until - time.monotonic() if known else 0.0
        if known is not None and known.state is State.OPEN and waiting > 0:
            raise circuit_open(service, waiting)

        permit_id = secrets.token_hex(8)
        snapshot = await self._run(ACQUIRE, service, [permit_id])
        if snapshot.state is State.CLOSED:
            return Permit(service, snapshot.generation)
        if snapshot.permit:
            return Permit(service, snapshot.generation, snapshot.permit)
        raise circuit_open(service, snapshot.retry_after_ms / 1000)

    async def record(self, permit: Permit, error: BaseException | None) -> Snapshot:
        """Count the call's outcome (``error`` is what it raised, if anything)."""
        policy = self.policy(permit.service)
        outcome = classify(error, time.perf_counter() - permit.started, policy)
        if outcome is Outcome.OK and not permit.permit and self.flush_seconds > 0:
            return self._hold_success(permit)
        marks = self._held_successes(permit, policy) + outcome.value
        args = [permit.generation, permit.permit, marks]
        return await self._run(RECORD, permit.service, args)

    async def flush(self) -> None:
        """Report the successes held back so far."""
        held, self._successes = self._successes, {}
        for service, (generation, count) in held.items():
            marks = Outcome.OK.value * min(count, self.policy(service).window_size)
            try:
                await self._run(RECORD, service, [generation, "", marks])
            except AgentOSError as exc:  # successes only: losing them opens nothing
                log_event(
                    logger,
                    "breaker.flush_failed",
                    logging.WARNING,
                    service=service,
                    reason=exc.message,
                )

    async def close(self) -> None:
        """Report what is held back, and stop."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        await self.flush()

    def _hold_success(self, permit: Permit) -> Snapshot:
        generation, count = self._successes.get(permit.service, (permit.generation, 0))
        if generation != permit.generation:
            count = 0  # successes of another generation would be ignored anyway
        self._successes[permit.service] = (permit.generation, count + 1)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        known = self._known.get(permit.service)
        state = known.state if known else State.CLOSED
        return Snapshot(permit.service, state, permit.generation)

    def _held_successes(self, permit: Permit, policy: BreakerPolicy) -> str:
        generation, count = self._successes.pop(permit.service, (0, 0))
        if generation != permit.generation:
            return ""
        return Outcome.OK.value * min(count, policy.window_size)

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.flush_seconds)
        await self.flush()

    async def call(self, service: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` under the service's breaker."""
        permit = await self.acquire(service)
        try:
            result = await work()
        except Exception as exc:
            await self.record(permit, exc)
            raise
        await self.record(permit, None)
        return result

    async def trip(self, service: str, seconds: float) -> Snapshot:
        """Force the breaker open for ``seconds``; then it half-opens as usual."""
        args = [Event.TRIP.value, round(seconds * 1000)]
        return await self._run(FORCE, service, args, forced=True)

    async def reset(self, service: str) -> Snapshot:
        """Force the breaker closed with an empty window."""
        return await self._run(FORCE, service, [Event.RESET.value, 0], forced=True)

    async def snapshot(self, service: str) -> Snapshot:
        """The breaker as stored now (an absent breaker is CLOSED)."""
        found = await self.state.hgetall(breaker_keys(service)[0])
        state = State(found.get("state", b"closed").decode())
        until = int(found.get("until", 0))
        wait = until - int(time.time() * 1000) if state is State.OPEN else 0
        return Snapshot(service, state, int(found.get("gen", 0)), max(wait, 0))

    async def _run(
        self, script: Script, service: str, extra: list[Any], *, forced: bool = False
    ) -> Snapshot:
        args = [*_policy_args(self.policy(service)), *extra]
        reply = await self.state.run(script, breaker_keys(service), args)
        snapshot = Snapshot.from_reply(service, reply)
        self._remember(snapshot)
        if snapshot.transition:
            await self._announce(snapshot, forced)
        return snapshot

    def _fresh(self, service: str) -> _Known | None:
        known = self._known.get(service)
        if known is None or time.monotonic() - known.seen > self.cache_seconds:
            return None
        return known

    def _remember(self, snapshot: Snapshot) -> None:
        now = time.monotonic()
        self._known[snapshot.service] = _Known(
            snapshot.state,
            snapshot.generation,
            now,
            now + snapshot.retry_after_ms / 1000,
        )

    async def _announce(self, snapshot: Snapshot, forced: bool) -> None:
        level = logging.WARNING if snapshot.state is State.OPEN else logging.INFO
        log_event(
            logger,
            f"breaker.{snapshot.transition}",
            level,
            service=snapshot.service,
            state=snapshot.state.value,
            generation=snapshot.generation,
            forced=forced,
        )
        if self.on_transition is not None:
            await self.on_transition(snapshot, forced)


def circuit_open(service: str, seconds: float) -> CircuitOpen:
    """The 503 for a call refused by ``service``'s breaker."""
    return CircuitOpen(
        f"The '{service}' service is failing and is not being called; retry "
        "after Retry-After seconds.",
        retry_after=max(seconds, 1),
        details=[{"service": service}],
    )


def describe(snapshots: Mapping[str, Snapshot]) -> dict[str, dict[str, Any]]:
    """Every breaker as the status endpoint shows it."""
    return {name: snap.as_dict() for name, snap in sorted(snapshots.items())}
