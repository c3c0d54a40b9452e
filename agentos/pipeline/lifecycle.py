"""Opening and closing the admin action pipeline in each worker.

``open_pipeline`` runs in ``before_server_start`` after the stores and
services are open: it builds every stage's adapter, starts the audit writer,
the executions' heartbeat and the statistics flush, and leaves the
``Pipeline`` in ``app.ctx.pipeline`` (the breakers also in
``app.ctx.breakers``). A service that trips or resets breakers (the
``system.breaker.*`` actions) builds its own ``build_breakers(settings,
state)``: the state is shared, so both see the same breakers. At start
it also recovers what a dead process left: audit intents older than
``audit_recover_after_seconds`` and executions whose heartbeat stopped.

``close_pipeline`` runs in ``after_server_stop`` before the stores close
(Sanic runs shutdown listeners in reverse order of registration): queued
audit records are written, this worker's unfinished executions are marked
interrupted, and the last statistics and breaker successes are reported.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from sanic import Sanic

from agentos import errors
from agentos.config import Settings
from agentos.logs import log_event
from agentos.pipeline.access_policy import load_access_policy
from agentos.pipeline.audit import AuditWriter
from agentos.pipeline.breaker import Breakers, load_policies
from agentos.pipeline.executions import Executions
from agentos.pipeline.idempotency import Idempotency
from agentos.pipeline.ratelimit import RateLimiter, load_rate_limits
from agentos.pipeline.runner import Pipeline
from agentos.pipeline.stats import ActionStats

logger = logging.getLogger("agentos.pipeline")


def policy_version(policies_dir: Path) -> str:
    """The content hash of every file in ``policies/``, for audit records."""
    digest = hashlib.sha256()
    for path in sorted(policies_dir.glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_breakers(settings: Settings, state: Any) -> Breakers:
    """The breakers of ``policies/breakers.yaml`` over ``state``."""
    return Breakers(
        state,
        load_policies(settings.policies_dir),
        cache_seconds=settings.pipeline.breaker_cache_seconds,
    )


async def open_pipeline(app: Sanic[Any, Any]) -> None:
    """Build and start this worker's pipeline (``before_server_start``)."""
    settings: Settings = app.ctx.settings
    knobs = settings.pipeline
    ctx = app.ctx
    if getattr(ctx, "registry", None) is None:
        log_event(
            logger,
            "pipeline.no_registry",
            logging.WARNING,
            hint="the action registry is not attached; admin actions are off",
        )
        return
    _warn_about_switched_off_stages(settings)

    writer = AuditWriter(
        ctx.db,
        window_seconds=knobs.audit_window_seconds,
        max_batch=knobs.audit_max_batch,
    )
    await writer.start()
    executions = Executions(
        ctx.db,
        heartbeat_seconds=knobs.execution_heartbeat_seconds,
        grace_seconds=knobs.execution_grace_seconds,
    )
    stats = ActionStats(ctx.state, flush_seconds=knobs.stats_flush_seconds)
    breakers = getattr(ctx, "breakers", None) or build_breakers(settings, ctx.state)
    if getattr(ctx, "access_policy", None) is None:
        ctx.access_policy = load_access_policy(settings.policies_dir)

    pipeline = Pipeline(
        settings=knobs,
        registry=ctx.registry,
        services=ctx.services,
        authenticator=ctx.authenticator,
        access_policy=lambda: ctx.access_policy,
        limiter=_limiter(ctx, settings),
        idempotency=Idempotency(
            ctx.state,
            ttl_seconds=knobs.idempotency_ttl_seconds,
            lease_seconds=knobs.idempotency_lease_seconds,
        ),
        breakers=breakers,
        audit=writer,
        executions=executions,
        stats=stats,
        policy_version=policy_version(settings.policies_dir),
    )
    breakers.on_transition = pipeline.on_breaker_transition
    ctx.registry.on_swap(lambda _: _reload_policies(pipeline, settings))
    ctx.pipeline, ctx.breakers, ctx.audit, ctx.executions = (
        pipeline,
        breakers,
        writer,
        executions,
    )

    await _recover(writer, executions, knobs.audit_recover_after_seconds)
    await stats.start()


async def close_pipeline(app: Sanic[Any, Any]) -> None:
    """Write what is queued and stop the background work (``after_server_stop``)."""
    pipeline: Pipeline | None = getattr(app.ctx, "pipeline", None)
    if pipeline is None:
        return
    await pipeline.stats.close()
    await pipeline.breakers.close()
    await pipeline.executions.close()
    await pipeline.audit.close()


def _limiter(ctx: Any, settings: Settings) -> Any:
    existing = getattr(ctx, "rate_limiter", None)
    if existing is not None:
        return existing
    return RateLimiter(ctx.state, load_rate_limits(settings.policies_dir))


def _reload_policies(pipeline: Pipeline, settings: Settings) -> None:
    # The registry reloaded (policies/ included): read breakers.yaml again;
    # a broken file leaves the old policies serving.
    pipeline.policy_version = policy_version(settings.policies_dir)
    try:
        pipeline.breakers.use(load_policies(settings.policies_dir))
    except errors.ConfigError as exc:
        log_event(
            logger,
            "breakers.reload_failed",
            logging.ERROR,
            report=str(exc),
            hint="the previous breaker policies keep serving",
        )


async def _recover(writer: AuditWriter, executions: Executions, after: float) -> None:
    # A database that is down now is reported by the first call; the orphans
    # are then recovered at a later start or by another worker.
    try:
        await writer.recover(timedelta(seconds=after))
    except errors.AgentOSError as exc:
        log_event(logger, "audit.recover_failed", logging.WARNING, reason=exc.message)
    try:
        await executions.start()
    except errors.AgentOSError as exc:
        log_event(
            logger, "executions.recover_failed", logging.WARNING, reason=exc.message
        )


def _warn_about_switched_off_stages(settings: Settings) -> None:
    for stage, on in settings.pipeline.stages.model_dump().items():
        if not on:
            log_event(
                logger,
                "pipeline.stage_disabled",
                logging.WARNING,
                stage=stage,
                hint="for benchmarks only; never switch a stage off in production",
            )
