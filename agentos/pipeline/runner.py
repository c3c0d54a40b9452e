"""The admin action pipeline: every stage of ``POST /api/admin/action``, in order.

::

    authenticate -> resolve -> authorize -> rate limit -> validate
      -> idempotency -> breaker -> audit intent -> dispatch -> audit -> envelope

Each stage is its own module; this one only composes them and keeps the
*trail* of a call: what its audit record will say, filled in as the stages
pass.

The stages that need the state store share one round trip. The token is
verified at once but *admitted* (not revoked, not disabled, not locked)
together with the rate limit's spending and the idempotency key's claim,
in one compound script (``agentos.state.compound``) that stops at the
first step that refuses. Validation and the reading of the key are local
and run before it; their refusals are held and answered only after the
rate limit has let the call through, so each refusal still comes from the
stage the order above gives it: a revoked token is 401 whatever else is
wrong with the call, a call over its limit 429 whatever its payload.

Whatever happens, the call ends in ``_close``, which completes its
idempotency record, writes its audit record and counts it for the status
endpoint, so no path can skip the audit.

Refusals are exceptions from the stages (``AgentOSError``), answered with
their envelope. The record's ``decision`` is ``allowed`` once
authentication, authorization and the rate limit have passed, ``denied``
before; its ``rule`` names the rule or the stage that decided. A driver
failure never reaches here: the stores raise ``DependencyDown``, which is
answered 503 with ``Retry-After`` like any refusal (fail closed).

If the audit record of a call that was never dispatched cannot be written,
the answer becomes 503 ``DEPENDENCY_DOWN``: a call is either in the audit
trail or refused as a whole. A dispatched call's trace is already durable as
an intent (see ``agentos.pipeline.audit``), so its answer stays the truth.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from agentos import errors
from agentos.http.answer import raw_answer
from agentos.http.body import json_body
from agentos.http.envelope import fail, ok
from agentos.logs import bind, log_event, trace_id_var
from agentos.pipeline import audit as audit_log
from agentos.pipeline import idempotency as idem
from agentos.pipeline.authn import Identified
from agentos.pipeline.authz import Decision, authorize
from agentos.pipeline.breaker import Breakers, Permit, Snapshot
from agentos.pipeline.client_ip import request_client_ip
from agentos.pipeline.executions import ExecutionContext, Executions, location, plain
from agentos.pipeline.settings import PipelineSettings
from agentos.pipeline.stats import ActionStats
from agentos.registry import Call, Registry, RegistryHolder
from agentos.registry.spec import ActionSpec, AuditLevel, Mode
from agentos.services.base import CallContext, Principal
from agentos.state.compound import Step, run_steps

logger = logging.getLogger("agentos.pipeline")

ANONYMOUS = Principal(subject="anonymous", roles=("admin",))
"""The caller when the authenticate stage is switched off (benchmarks only)."""
UNRESOLVED = "(unresolved)"
"""The stats name of calls whose action was never resolved: names are the caller's."""
MAX_AUDIT_PAYLOAD_BYTES = 16_384
MAX_AUDIT_TEXT = 200


@dataclass
class Trail:
    """What one call's audit record will say, filled in stage by stage."""

    started: float
    client_ip: str
    user_agent: str | None
    stage: str = "authenticate"
    principal: Principal | None = None
    action: str | None = None
    spec: ActionSpec | None = None
    allowed: bool = False
    rule: str | None = None
    document: Any = None
    """The request body, parsed."""
    payload: Any = None
    raw_payload: Any = None
    """The payload as sent, scrubbed only if the call ends before validation."""
    body_bytes: int = 0
    idempotency_key: str | None = None
    registry_version: str | None = None
    policy_version: str | None = None
    outcome: str | None = None
    intent: str | None = None
    claim: idem.Claim | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def kept_payload(self) -> Any:
        """The scrubbed payload: the validated one, else the one sent."""
        if self.payload is not None or self.spec is None:
            return self.payload
        return _audited(self.spec, self.raw_payload, body_bytes=self.body_bytes)

    def record(self, status: int | None, error_code: str | None) -> dict[str, Any]:
        """The audit record of the call as far as it is known."""
        principal = self.principal
        return audit_log.new_record(
            actor=principal.subject if principal else "anonymous",
            roles=list(principal.roles) if principal else [],
            action=(self.action or UNRESOLVED)[:MAX_AUDIT_TEXT],
            payload=self.kept_payload(),
            decision=audit_log.ALLOWED if self.allowed else audit_log.DENIED,
            rule=self.rule or (None if self.allowed else self.stage),
            outcome=self.outcome if status is not None else None,
            status=status,
            error_code=error_code,
            trace_id=trace_id_var.get(),
            client_ip=self.client_ip,
            user_agent=_header_text(self.user_agent),
            idempotency_key=self.idempotency_key,
            duration_ms=round((time.perf_counter() - self.started) * 1000, 3),
            registry_version=self.registry_version,
            policy_version=self.policy_version,
        )


@dataclass
class Prepared:
    """A call validated and its idempotency claim planned, before the state store.

    ``refusal`` is the first refusal of the validate or idempotency stage
    (``refused_at``), answered once the rate limit has let the call through.
    """

    call: Call | None = None
    refusal: errors.AgentOSError | None = None
    refused_at: str = ""
    key: str | None = None
    claim: idem.Claim | None = None
    begin: Step | None = None
    """``BEGIN`` for ``claim``, run in the round trip of the rate limit."""


@dataclass
class Pipeline:
    """One worker's admin action pipeline: the adapters of every stage."""

    settings: PipelineSettings
    registry: RegistryHolder
    services: Mapping[str, Any]
    authenticator: Any
    access_policy: Callable[[], Any]
    """The access policy in force now (it is replaced when policies reload)."""
    limiter: Any
    idempotency: idem.Idempotency
    breakers: Breakers
    audit: audit_log.AuditWriter
    executions: Executions
    stats: ActionStats
    policy_version: str | None = None

    async def handle(self, request: Request) -> HTTPResponse:
        """Run one call through every stage; always audit it."""
        trail = Trail(
            started=time.perf_counter(),
            client_ip=request_client_ip(request, self.access_policy().trusted_proxies),
            user_agent=request.headers.get("user-agent"),
            policy_version=self.policy_version,
            body_bytes=len(request.body or b""),
        )
        try:
            response = await self._stages(request, trail)
        except errors.AgentOSError as exc:
            response = fail(exc)
            trail.rule = trail.rule or f"{trail.stage}: {exc.error_code}"
            trail.action = trail.action or _peek_action(request)
        except Exception as exc:  # a bug: logged with its trace, answered 500
            logger.error(
                "pipeline.failed",
                exc_info=exc,
                extra={"fields": {"stage": trail.stage}},
            )
            response = fail(errors.AgentOSError())
        return await self._close(trail, response)

    # -- the stages --------------------------------------------------------

    async def _stages(self, request: Request, trail: Trail) -> HTTPResponse:
        identified = await self._authenticate(request, trail)
        principal = identified.principal if identified else ANONYMOUS
        try:
            registry, spec, decision = await self._resolve_and_authorize(
                request, principal, trail
            )
        except errors.AgentOSError:
            await self._admit(identified, trail)  # a refused token answers first
            raise

        prepared = self._prepare(request, registry, spec, principal, trail)
        replies = await self._ask_state(identified, principal, spec, prepared, trail)
        trail.allowed = True
        if prepared.refusal is not None:
            trail.stage = prepared.refused_at
            raise prepared.refusal

        call = prepared.call
        assert call is not None  # a call that failed validation has a refusal
        trail.payload = _audited(spec, call.arguments, body_bytes=trail.body_bytes)
        replay = self._claim(prepared, replies, trail)
        if replay is not None:
            trail.outcome = audit_log.REPLAYED
            return raw_answer(
                replay.body,
                status=replay.status,
                content_type="application/json",
                headers=idem.replay_headers(replay),
            )
        return await self._execute(spec, call, principal, decision, trail)

    async def _authenticate(self, request: Request, trail: Trail) -> Identified | None:
        # The token is verified here; the state store admits it later, in
        # the rate limit's round trip (see ``_admit``).
        if not self.settings.stages.authenticate:
            trail.principal = ANONYMOUS
            return None
        identified: Identified = await self.authenticator.identify(request)
        trail.principal = identified.principal
        bind(subject=identified.principal.subject)
        return identified

    async def _resolve_and_authorize(
        self, request: Request, principal: Principal, trail: Trail
    ) -> tuple[Registry, ActionSpec, Decision]:
        trail.stage = "resolve"
        document = trail.document = json_body(request)
        registry: Registry = self.registry.current
        trail.registry_version = registry.version
        trail.action = _claimed_action(document)
        spec = trail.spec = registry.resolve(document)
        trail.raw_payload = document.get("payload")

        decision = await self._authorize(registry, spec, principal, document, trail)
        return registry, spec, decision

    async def _admit(
        self, identified: Identified | None, trail: Trail, *then: Step
    ) -> list[Any] | None:
        """Admit the verified token, running ``then`` in the same round trip.

        A refusal (revoked, disabled, locked) is the authenticate stage's,
        whatever stage asked; ``None`` when authentication is switched off.
        """
        if identified is None:
            return None
        stage, trail.stage = trail.stage, "authenticate"
        try:
            replies = await identified.admit(*then)
        except errors.AgentOSError:
            trail.rule = None
            raise
        trail.stage = stage
        return replies

    async def _authorize(
        self,
        registry: Registry,
        spec: ActionSpec,
        principal: Principal,
        document: dict[str, Any],
        trail: Trail,
    ) -> Decision:
        trail.stage = "authorize"
        if not self.settings.stages.authorize:
            return Decision(allowed=True, rule="authorize stage switched off")
        decision = await authorize(
            registry.permissions,
            spec,
            principal,
            document.get("payload"),
            trail.client_ip,
            access=self.access_policy(),
            services=self.services,
        )
        trail.rule = decision.rule
        decision.raise_if_denied()
        return decision

    def _prepare(
        self,
        request: Request,
        registry: Registry,
        spec: ActionSpec,
        principal: Principal,
        trail: Trail,
    ) -> Prepared:
        """Validate the payload and plan the idempotency claim, holding refusals.

        Both are local work. Their refusals wait until the rate limit has
        spoken, so a call refused there is a 429 whatever its payload says.
        """
        try:
            call = registry.validate(spec, trail.document)
        except errors.AgentOSError as exc:
            return Prepared(refusal=exc, refused_at="validate")
        if not self.settings.stages.idempotency:
            return Prepared(call)

        try:
            key = idem.key_from_headers(request.headers)
        except errors.AgentOSError as exc:
            return Prepared(call, refusal=exc, refused_at="idempotency")
        if key is None and spec.idempotency.value == "required":
            missing = errors.InvalidIdempotencyKey(
                f"'{spec.name}' must be sent with an X-Idempotency-Key header; "
                "use a fresh random key and repeat it on every retry."
            )
            return Prepared(call, refusal=missing, refused_at="idempotency")
        if key is None:
            return Prepared(call)

        print_ = idem.fingerprint(spec.name, call.arguments)
        claim, begin = self.idempotency.plan(principal.subject, key, print_)
        return Prepared(call, key=key, claim=claim, begin=begin)

    async def _ask_state(
        self,
        identified: Identified | None,
        principal: Principal,
        spec: ActionSpec,
        prepared: Prepared,
        trail: Trail,
    ) -> list[Any]:
        """Admit, rate-limit and claim the key, in one round trip; raise 429.

        Each step runs only if the one before let the call through
        (``agentos.state.compound``), so a refused token spends no quota and
        a refused call claims no key.
        """
        trail.stage = "rate_limit"
        spending = None
        if self.settings.stages.rate_limit and self.limiter.enabled:
            spending = self.limiter.plan(principal, spec)
        steps = [step for step in (spending and spending.step, prepared.begin) if step]

        replies = await self._admit(identified, trail, *steps)
        if replies is None:  # authentication is switched off
            replies = await run_steps(self.idempotency.state, steps)
        if spending is None:
            return replies

        verdict = spending.decision(replies.pop(0))
        trail.headers.update(verdict.headers)
        if not verdict.allowed:
            trail.rule = f"rate_limit: {spec.rate_class}"
            raise verdict.refusal()
        return replies

    def _claim(
        self, prepared: Prepared, replies: list[Any], trail: Trail
    ) -> idem.Replay | None:
        """The idempotency stage: hold the key, or find the answer to replay."""
        trail.stage = "idempotency"
        if prepared.claim is None:
            return None
        trail.idempotency_key = prepared.key
        outcome = self.idempotency.outcome(prepared.claim, replies[0])
        if isinstance(outcome, idem.Replay):
            log_event(logger, "idempotency.replayed", action=trail.action)
            return outcome
        trail.claim = outcome
        return None

    async def _execute(
        self,
        spec: ActionSpec,
        call: Call,
        principal: Principal,
        decision: Decision,
        trail: Trail,
    ) -> HTTPResponse:
        trail.stage = "breaker"
        permit = await self._permit(spec)
        ctx = CallContext(
            principal=principal,
            trace_id=trace_id_var.get(),
            client_ip=trail.client_ip,
            own_only=decision.own_only,
        )
        trail.stage = "audit"
        if self.settings.stages.audit:
            trail.intent = await self.audit.intend(trail.record(None, None))

        trail.stage = "dispatch"
        if spec.mode is Mode.ASYNC:
            return await self._submit(spec, call, ctx, permit, trail)
        result = plain(await self._guarded(permit, call, ctx))
        if spec.audit is AuditLevel.REQUEST_RESPONSE:
            trail.payload = _audited(spec, call.arguments, result)
        return ok({"action": spec.name, "result": result})

    async def _permit(self, spec: ActionSpec) -> Permit | None:
        if not self.settings.stages.breaker:
            return None
        return await self.breakers.acquire(spec.service)

    async def _guarded(
        self, permit: Permit | None, call: Call, ctx: CallContext
    ) -> Any:
        limit = self.breakers.policy(call.spec.service).call_timeout_seconds
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                result = await call.dispatch(self.services, ctx)
        except TimeoutError as exc:
            if not deadline.expired():
                await self._record_outcome(permit, exc)
                raise
            hung = errors.ActionTimedOut(
                f"{call.spec.service} did not answer '{call.spec.name}' within "
                f"{limit:g} s; the action may or may not have taken effect. Check "
                "its effect before retrying."
            )
            await self._record_outcome(permit, hung)
            log_event(
                logger, "action.timed_out", logging.WARNING,
                action=call.spec.name, service=call.spec.service, seconds=limit,
            )
            raise hung from None
        except Exception as exc:
            await self._record_outcome(permit, exc)
            raise
        await self._record_outcome(permit, None)
        return result

    async def _record_outcome(
        self, permit: Permit | None, error: Exception | None
    ) -> None:
        # The call has happened: a state store that fails now must not turn
        # its answer into an error. The breaker merely misses one outcome.
        if permit is None:
            return
        try:
            await self.breakers.record(permit, error)
        except errors.AgentOSError as exc:
            log_event(
                logger,
                "breaker.unrecorded",
                logging.WARNING,
                service=permit.service,
                reason=exc.message,
            )

    async def _submit(
        self,
        spec: ActionSpec,
        call: Call,
        ctx: CallContext,
        permit: Permit | None,
        trail: Trail,
    ) -> HTTPResponse:
        async def work(execution: ExecutionContext) -> Any:
            return await self._guarded(permit, call, execution)

        accepted = await self.executions.submit(spec.name, trail.payload, ctx, work)
        where = location(accepted["execution_id"])
        data = {"action": spec.name, **accepted, "location": where}
        return ok(data, status=202, headers={"Location": where})

    # -- the end of every call ---------------------------------------------

    async def _close(self, trail: Trail, response: HTTPResponse) -> HTTPResponse:
        response.headers.update(trail.headers)
        await self._complete_idempotency(trail, response)
        trail.outcome = trail.outcome or _outcome(response.status)
        error_code = _error_code(response)
        if self.settings.stages.audit:
            response = await self._append_audit(trail, response, error_code)
        self.stats.observe(
            trail.spec.name if trail.spec else UNRESOLVED,
            response.status,
            (time.perf_counter() - trail.started) * 1000,
        )
        return response

    async def _complete_idempotency(self, trail: Trail, response: HTTPResponse) -> None:
        if trail.claim is None:
            return
        try:
            await self.idempotency.complete(
                trail.claim,
                response.status,
                bytes(response.body or b""),
                response.headers,
            )
        except errors.AgentOSError as exc:
            log_event(
                logger,
                "idempotency.uncompleted",
                logging.WARNING,
                reason=exc.message,
                hint="the key frees itself after its lease",
            )

    async def _append_audit(
        self, trail: Trail, response: HTTPResponse, error_code: str | None
    ) -> HTTPResponse:
        record = trail.record(response.status, error_code)
        try:
            await self.audit.append(record, trail.intent)
        except errors.DependencyDown as exc:
            return fail(exc)
        return response

    async def on_breaker_transition(self, snapshot: Snapshot, forced: bool) -> None:
        """Audit a breaker's transition as a record of the system's own."""
        record = audit_log.new_record(
            actor="system",
            roles=[],
            action=f"breaker.{snapshot.transition}",
            payload={
                "service": snapshot.service,
                "state": snapshot.state.value,
                "generation": snapshot.generation,
            },
            decision=audit_log.ALLOWED,
            rule="operator" if forced else "breakers.yaml",
            outcome=audit_log.SUCCEEDED,
            trace_id=trace_id_var.get() or None,
            policy_version=self.policy_version,
        )
        try:
            await self.audit.append(record)
        except errors.DependencyDown:
            log_event(
                logger,
                "breaker.unaudited",
                logging.WARNING,
                service=snapshot.service,
                transition=snapshot.transition,
            )


def _peek_action(request: Request) -> str | None:
    # A call refused before its body was read still names what it wanted.
    try:
        return _claimed_action(json_body(request))
    except errors.AgentOSError:
        return None


def _claimed_action(document: Any) -> str | None:
    name = document.get("action") if isinstance(document, dict) else None
    return name if isinstance(name, str) else None


def _audited(
    spec: ActionSpec, payload: Any, result: Any = None, *, body_bytes: int | None = None
) -> Any:
    if body_bytes is not None and body_bytes > MAX_AUDIT_PAYLOAD_BYTES:
        return _omitted(body_bytes)  # too long to keep: not worth scrubbing
    pii = frozenset(spec.pii_fields)
    kept = audit_log.kept_payload(spec.audit.value, payload, result, pii=pii)
    if body_bytes is not None:
        return kept  # scrubbing never makes a payload much longer than its body
    size = len(json.dumps(kept, default=str))
    return kept if size <= MAX_AUDIT_PAYLOAD_BYTES else _omitted(size)


def _header_text(value: str | None) -> str | None:
    """A header's text for the audit, whole characters only, or ``None``.

    Sanic keeps a header byte that is not UTF-8 as a lone surrogate, which no
    store can encode; it becomes U+FFFD here.
    """
    if not value:
        return None
    if not value.isascii():
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value[:MAX_AUDIT_TEXT]


def _omitted(size: int) -> dict[str, str]:
    return {"omitted": f"the payload's {size} bytes exceed the audit limit"}


def _outcome(status: int) -> str:
    if status == 202:
        return audit_log.ACCEPTED
    if status < 400:
        return audit_log.SUCCEEDED
    return audit_log.FAILED if status >= 500 else audit_log.REFUSED


def _error_code(response: HTTPResponse) -> str | None:
    if response.status < 400:
        return None
    try:
        return str(json.loads(response.body or b"{}").get("error_code")) or None
    except ValueError:
        return None
