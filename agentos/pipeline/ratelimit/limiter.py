"""The rate limiter: spends a call's quotas in the state store, in one round trip.

The pipeline and the tier middleware ask one of two questions::

    decision = await limiter.check(principal, spec)         # an admin action
    decision = await limiter.check_tier("user", subject=s, client_ip=ip)

or plan the same spending (``plan``, ``plan_tier``) as a step that runs in
the round trip of the caller's admission (``agentos.pipeline.authn``), and
read its reply with ``Spending.decision``.

and answer with the decision: ``decision.headers`` go on every reply,
``decision.raise_if_limited()`` raises 429 ``RATE_LIMITED`` with those
headers and ``Retry-After``. An admin action spends its ``admin_action``
tier and its rate class together (one ``SPEND`` script, all or nothing), so
a call refused by its class does not use up the tier, and the other way
round.

Counters are kept per subject (``rl:u:{<subject>}:...``) or per client
address (``rl:ip:{<address>}:...``); see ``agentos.pipeline.scopes``. ``reset`` clears
them (the ``system.ratelimit.reset`` action).
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agentos.errors import RateLimited
from agentos.pipeline.ratelimit.algorithms import Quota, Verdict
from agentos.pipeline.ratelimit.headers import rate_limit_headers
from agentos.pipeline.ratelimit.policy import Per, RateLimitPolicy
from agentos.pipeline.ratelimit.scripts import SPEND, spend_args
from agentos.pipeline.scopes import address_scope, safe_part, subject_scope
from agentos.services.base import Principal
from agentos.state.compound import Step

ADMIN_ACTION_TIER = "admin_action"


class RatedAction(Protocol):
    """What the limiter reads of an action spec."""

    name: str
    rate_class: str


@dataclass(frozen=True)
class RateDecision:
    """The quotas a call was checked against and each one's verdict."""

    allowed: bool
    quotas: tuple[Quota, ...] = ()
    verdicts: tuple[Verdict, ...] = ()

    @property
    def headers(self) -> dict[str, str]:
        """``RateLimit-Policy`` and ``RateLimit``; empty when nothing was checked."""
        return rate_limit_headers(self.quotas, self.verdicts)

    @property
    def refused_by(self) -> list[Quota]:
        """The quotas that had no room for the call."""
        return [
            q for q, v in zip(self.quotas, self.verdicts, strict=True) if not v.allowed
        ]

    @property
    def retry_after(self) -> int:
        """Seconds until every refusing quota has room again; 0 when allowed."""
        waits = [v.retry_after_seconds for v in self.verdicts if not v.allowed]
        return max(waits, default=0)

    def refusal(self) -> RateLimited:
        """The 429 that answers this decision, with its headers."""
        refused = self.refused_by
        names = ", ".join(f"'{quota.name}'" for quota in refused)
        return RateLimited(
            f"Rate limit {names} reached; wait {self.retry_after} seconds "
            "(Retry-After) before calling again.",
            retry_after=self.retry_after,
            headers=self.headers,
            details=[
                {
                    "policy": q.name,
                    "limit": q.capacity,
                    "window_seconds": q.window_seconds,
                }
                for q in refused
            ],
        )

    def raise_if_limited(self) -> None:
        """Raise 429 ``RATE_LIMITED`` unless the call was allowed."""
        if not self.allowed:
            raise self.refusal()


UNLIMITED = RateDecision(allowed=True)
"""The decision when rate limiting is switched off."""


@dataclass(frozen=True)
class Spending:
    """The quotas one call spends, as a state-store step, and how to read its reply.

    A caller that asks the store something else first (the authenticator's
    admission) runs ``step`` in that same round trip and hands the reply to
    ``decision``; ``SPEND`` lets a next step run when the call was counted.
    """

    quotas: tuple[Quota, ...]
    step: Step

    def decision(self, reply: Sequence[Any]) -> RateDecision:
        """The decision that ``SPEND``'s reply says."""
        verdicts = tuple(
            Verdict(bool(reply[i]), int(reply[i + 1]), int(reply[i + 2]))
            for i in range(1, len(reply), 3)
        )
        return RateDecision(bool(reply[0]), self.quotas, verdicts)


class RateLimiter:
    """Spends quotas of ``policy`` in ``state``; ``enabled=False`` allows all."""

    def __init__(
        self, state: Any, policy: RateLimitPolicy, *, enabled: bool = True
    ) -> None:
        self.state = state
        self.policy = policy
        self.enabled = enabled
        self._member_prefix = f"{os.getpid()}.{secrets.token_hex(4)}."
        self._calls = itertools.count()

    async def check(self, principal: Principal, spec: RatedAction) -> RateDecision:
        """Spend the ``admin_action`` tier and the action's rate class."""
        if not self.enabled:
            return UNLIMITED
        return await self._spend(self.plan(principal, spec))

    async def check_tier(
        self, name: str, *, subject: str | None = None, client_ip: str = ""
    ) -> RateDecision:
        """Spend the tier ``name`` of the subject, or of the address without one."""
        if not self.enabled:
            return UNLIMITED
        plan = self.plan_tier(name, subject=subject, client_ip=client_ip)
        return await self._spend(plan)

    def plan(self, principal: Principal, spec: RatedAction) -> Spending:
        """What ``check`` spends, as a step to run with others (see ``Spending``)."""
        scope = subject_scope(principal.subject)
        tier = self.policy.tiers[ADMIN_ACTION_TIER].quota
        rate_class = self.policy.rate_class(spec.rate_class)
        return self._plan(
            [
                (tier, _key(scope, "tier", tier)),
                (rate_class, _key(scope, f"action:{safe_part(spec.name)}", rate_class)),
            ]
        )

    def plan_tier(
        self, name: str, *, subject: str | None = None, client_ip: str = ""
    ) -> Spending:
        """What ``check_tier`` spends, as a step to run with others."""
        tier = self.policy.tiers[name]
        if tier.per is Per.USER and subject is not None:
            scope = subject_scope(subject)
        else:
            scope = address_scope(client_ip)
        return self._plan([(tier.quota, _key(scope, "tier", tier.quota))])

    async def spend(
        self, checks: Sequence[tuple[Quota, str]], *, now_ms: float | None = None
    ) -> RateDecision:
        """Spend one call of each ``(quota, key)`` or of none, atomically.

        ``now_ms`` overrides the store's clock; tests use it to place calls
        at exact times on both backends.
        """
        return await self._spend(self._plan(checks, now_ms=now_ms))

    async def _spend(self, plan: Spending) -> RateDecision:
        step = plan.step
        return plan.decision(await self.state.run(step.script, step.keys, step.args))

    def _plan(
        self, checks: Sequence[tuple[Quota, str]], *, now_ms: float | None = None
    ) -> Spending:
        quotas = tuple(quota for quota, _ in checks)
        member = f"{self._member_prefix}{next(self._calls)}"
        step = Step(
            SPEND,
            [key for _, key in checks],
            spend_args(list(quotas), member, now_ms),
            go_on=1,
        )
        return Spending(quotas, step)

    async def reset(
        self, *, subject: str | None = None, client_ip: str | None = None
    ) -> int:
        """Forget every counter of ``subject`` and/or ``client_ip``; return how many."""
        removed = 0
        if subject is not None:
            removed += await self.state.delete_prefix(f"rl:{subject_scope(subject)}:")
        if client_ip is not None:
            removed += await self.state.delete_prefix(f"rl:{address_scope(client_ip)}:")
        return removed


def _key(scope: str, what: str, quota: Quota) -> str:
    # The algorithm is part of the name: a class that changes algorithm on a
    # reload starts afresh instead of reading another algorithm's state.
    return f"rl:{scope}:{what}:{quota.name}:{quota.algorithm.value}"
