"""The ``pipeline`` section of the settings: the admin action pipeline's knobs.

It lives beside the stages it configures and is mounted in
``agentos.config.Settings`` as ``pipeline``; every key is overridable from
the environment like any other (``AGENTOS_PIPELINE__IDEMPOTENCY_TTL_SECONDS``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageSwitches(_Section):
    """Which stages run. Every stage is on; turning one off is for benchmarks.

    The service logs ``pipeline.stage_disabled`` as a warning at start for
    each stage that is off: without ``authenticate`` every caller is an
    anonymous admin, without ``audit`` actions leave no trace.
    """

    authenticate: bool = True
    authorize: bool = True
    rate_limit: bool = True
    idempotency: bool = True
    breaker: bool = True
    audit: bool = True


class PipelineSettings(_Section):
    """Idempotency retention, breaker caching, audit batching, executions, stats."""

    stages: StageSwitches = StageSwitches()
    idempotency_ttl_seconds: float = Field(
        default=3600,
        gt=0,
        le=7 * 86_400,
        description="How long an answered idempotency key is replayed.",
    )
    idempotency_lease_seconds: float = Field(
        default=120,
        gt=0,
        le=3600,
        description="How long a running call holds its key if its process dies.",
    )
    breaker_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long a worker trusts a CLOSED breaker without asking the "
        "state store; 0 asks on every call.",
    )
    audit_window_seconds: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Extra wait for more records before each audit commit; "
        "concurrent calls are batched even at 0.",
    )
    audit_max_batch: int = Field(default=500, ge=1, le=10_000)
    audit_recover_after_seconds: float = Field(
        default=600,
        gt=0,
        description="Age after which an audit intent is taken as orphaned at start.",
    )
    execution_heartbeat_seconds: float = Field(default=5, gt=0, le=300)
    execution_grace_seconds: float = Field(
        default=30,
        gt=0,
        description="Heartbeat age after which an unfinished execution is interrupted.",
    )
    stats_flush_seconds: float = Field(default=1.0, gt=0, le=60)
    bench_endpoint: bool = Field(
        default=False,
        description="Add POST /bench/bare, the baseline of bench/pipeline_bench.py; "
        "benchmarks only, never in production.",
    )
