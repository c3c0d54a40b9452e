"""The rate-limit tiers of the HTTP surface, applied before a route runs.

Which tier a request spends depends on where it goes and who sends it:

================================  ================  ==============
surface                           with a token      without one
================================  ================  ==============
``/health``, ``/metrics``, docs   none              none
``POST /api/admin/action``        (the action pipeline: ``admin_action``
                                  and the action's rate class)
``GET /api/admin/...``            ``admin_read``    ``public``
everything else                   ``user``          ``public``
================================  ================  ==============

``admin_read`` and ``user`` count per subject, ``public`` per client
address. A request whose token fails is counted as ``public``; the route
then answers the failure (the authenticator keeps it on the request, so it
is neither verified nor counted twice). Every counted answer carries
``RateLimit-Policy`` and ``RateLimit``; a refused one is 429
``RATE_LIMITED`` with ``Retry-After``, before the route runs. With the state
store down a read passes uncounted and a change gets 503
(``agentos.pipeline.degraded``).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from agentos.errors import AgentOSError, DependencyDown
from agentos.pipeline.client_ip import request_client_ip
from agentos.pipeline.degraded import OutageReport, may_degrade
from agentos.pipeline.ratelimit.limiter import (
    UNLIMITED,
    RateDecision,
    RateLimiter,
    Spending,
)
from agentos.state.compound import Step

ADMIN_ACTION_PATH = "/api/admin/action"
ADMIN_PREFIX = "/api/admin/"
EXEMPT_PATHS = ("/health", "/metrics", "/docs", "/bench")
"""``/bench``: the baselines of bench/, present only when a bench setting is on."""
_EXEMPT_SEGMENTS = frozenset(path.removeprefix("/") for path in EXEMPT_PATHS)
READ_METHODS = frozenset({"GET", "HEAD"})

_unlimited = OutageReport(logging.getLogger("agentos.ratelimit"), "ratelimit.unchecked")


class Surface(StrEnum):
    """The parts of the HTTP surface that the tiers tell apart."""

    EXEMPT = "exempt"  # probes, metrics scrapes and documentation
    ADMIN_ACTION = "admin_action"  # limited by the action pipeline
    ADMIN_READ = "admin_read"
    API = "api"


def surface_of(method: str, path: str) -> Surface:
    """Where a request goes, as far as rate limiting is concerned."""
    # Exempt: an exempt path itself or anything under it, told by the first
    # segment ("/docs/openapi.json" is; "/healthz" is not).
    if method == "OPTIONS" or path[1:].partition("/")[0] in _EXEMPT_SEGMENTS:
        return Surface.EXEMPT
    if path.rstrip("/") == ADMIN_ACTION_PATH and method == "POST":
        return Surface.ADMIN_ACTION
    if path.startswith(ADMIN_PREFIX) and method in READ_METHODS:
        return Surface.ADMIN_READ
    return Surface.API


def tier_for(surface: Surface, authenticated: bool) -> str | None:
    """The tier a request to ``surface`` spends; ``None`` when none applies here."""
    if surface in (Surface.EXEMPT, Surface.ADMIN_ACTION):
        return None
    if not authenticated:
        return "public"
    return "admin_read" if surface is Surface.ADMIN_READ else "user"


async def limit_request(request: Any) -> None:
    """Request middleware: spend the request's tier or answer 429."""
    limiter = getattr(request.app.ctx, "rate_limiter", None)
    if limiter is None or not limiter.enabled:
        return
    surface = surface_of(request.method, request.path)
    if surface in (Surface.EXEMPT, Surface.ADMIN_ACTION):
        return

    authenticator = request.app.ctx.authenticator
    address = request_client_ip(request, authenticator.trusted_proxies)
    tier = tier_for(surface, authenticated=True)
    assert tier is not None  # only exempt and action surfaces have none
    decision = await _spend_authenticated(request, limiter, tier, address)
    if decision is None:
        decision = await _spend(request, limiter, "public", client_ip=address)
    if decision is None:
        return
    request.ctx.rate_limit_headers = decision.headers
    decision.raise_if_limited()


async def _spend_authenticated(
    request: Any, limiter: RateLimiter, tier: str, address: str
) -> RateDecision | None:
    # The tier is spent in the round trip that admits the token. A request
    # without a token, or whose token fails, spends nothing here: it is
    # counted as public, and the route answers the failure.
    if "authorization" not in request.headers:
        return None
    plans: list[Spending] = []

    def spending(principal: Any) -> list[Step]:
        plan = limiter.plan_tier(tier, subject=principal.subject, client_ip=address)
        plans.append(plan)
        return [plan.step]

    try:
        _, replies = await request.app.ctx.authenticator.authenticate_with(
            request, spending
        )
    except DependencyDown:
        raise  # a change while the state store is down: 503
    except AgentOSError:
        return None
    if replies is None:  # the state store is down: a read passes uncounted
        _unlimited(tier=tier)
        return UNLIMITED
    return plans[-1].decision(replies[0])


async def _spend(
    request: Any, limiter: RateLimiter, tier: str, *, client_ip: str
) -> RateDecision | None:
    try:
        return await limiter.check_tier(tier, client_ip=client_ip)
    except DependencyDown:
        if not may_degrade(request.method):
            raise
        _unlimited(tier=tier)
        return None


async def add_rate_limit_headers(request: Any, response: Any) -> None:
    """Response middleware: put the tier's headers on the answer."""
    headers = getattr(request.ctx, "rate_limit_headers", None)
    if not headers:
        return
    for name, value in headers.items():
        if name not in response.headers:
            response.headers[name] = value
