"""The gate of a worker: authentication, lockout, access policy and rate limits.

``open_gate`` builds them once per worker, after the stores are open, and
puts them where the routes and the action pipeline find them:

=========================  ==============================================
``app.ctx.authenticator``  ``authn.Authenticator``; ``verify_request``
``app.ctx.access_policy``  ``access_policy.AccessPolicy`` (for ``authz``)
``app.ctx.lockout``        ``lockout.Lockout`` (``system.lockout.clear``)
``app.ctx.revocations``    ``revocation.Revocations`` (disabling users)
``app.ctx.rate_limiter``   ``ratelimit.RateLimiter``
=========================  ==============================================

Its request middlewares, in order: ``guard_admin_reads`` (the admin
allowlist for admin reads), then ``limit_request`` (the rate-limit tiers);
``add_rate_limit_headers`` answers with the tier's headers.

The policies come from ``policies/access.yaml`` and
``policies/rate_limits.yaml``; a bad file stops the start with a report.
When the action registry reloads, both files are read again: a clean read
replaces the policies of the components in place, a broken one leaves the
old ones serving and logs why.
"""

from __future__ import annotations

import logging
from typing import Any

from agentos.errors import ConfigError
from agentos.logs import log_event
from agentos.pipeline.access_policy import AccessPolicy, load_access_policy
from agentos.pipeline.authn import Authenticator, KeyRing, TokenRules
from agentos.pipeline.authz import guard_admin_reads
from agentos.pipeline.lockout import Lockout
from agentos.pipeline.ratelimit import RateLimiter, RateLimitPolicy, load_rate_limits
from agentos.pipeline.ratelimit.middleware import add_rate_limit_headers, limit_request
from agentos.pipeline.revocation import Revocations, sync_disabled_users

logger = logging.getLogger("agentos.auth")

__all__ = ["add_rate_limit_headers", "guard_admin_reads", "limit_request", "open_gate"]


async def open_gate(app: Any) -> None:
    """Build this worker's gate from the settings, the policies and the stores."""
    ctx = app.ctx
    settings = ctx.settings
    access = load_access_policy(settings.policies_dir)
    limits = load_rate_limits(settings.policies_dir)

    ctx.access_policy = access
    ctx.lockout = Lockout(ctx.state, access.lockout)
    ctx.revocations = Revocations(ctx.state)
    ctx.authenticator = Authenticator(
        KeyRing(ctx.token_keys.secret, settings.jwt.public_keys),
        TokenRules(
            settings.jwt.issuer, settings.jwt.audience, settings.jwt.leeway_seconds
        ),
        revocations=ctx.revocations,
        lockout=ctx.lockout,
        trusted_proxies=access.trusted_proxies,
    )
    ctx.rate_limiter = RateLimiter(
        ctx.state, limits, enabled=settings.rate_limits_enabled
    )

    await sync_disabled_users(ctx.db, ctx.state)
    registry = getattr(ctx, "registry", None)
    if registry is not None:
        registry.on_swap(lambda _: reload_policies(app))


def reload_policies(app: Any) -> bool:
    """Read both policy files again and apply them; ``False`` if they are broken."""
    ctx = app.ctx
    try:
        access = load_access_policy(ctx.settings.policies_dir)
        limits = load_rate_limits(ctx.settings.policies_dir)
    except ConfigError as exc:
        log_event(
            logger,
            "policies.reload_failed",
            logging.ERROR,
            report=str(exc),
            hint="the previous access and rate-limit policies keep serving",
        )
        return False

    apply_policies(ctx, access, limits)
    log_event(logger, "policies.reloaded", trusted_proxies=access.trusted_proxies)
    return True


def apply_policies(ctx: Any, access: AccessPolicy, limits: RateLimitPolicy) -> None:
    """Hand new policies to the components that use them."""
    ctx.access_policy = access
    ctx.lockout.policy = access.lockout
    ctx.authenticator.trusted_proxies = access.trusted_proxies
    ctx.rate_limiter.policy = limits
