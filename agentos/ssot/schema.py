"""The SSOT document's shape, as models for the OpenAPI description.

These models describe what the collectors write; they are never used to
build or check an answer on the request path (the document travels as
bytes). A test validates real documents against them, so the description
cannot drift from what is served. Every section is nullable: a section that
failed without a last good value is ``null``, and ``?sections=`` leaves the
others out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobCounts(_Part):
    """How many jobs there are in each status."""

    by_status: dict[str, int]
    total: int


class Today(_Part):
    """Jobs created and finished since midnight UTC."""

    since: datetime
    created: int
    finished: dict[str, int]
    finished_per_hour: float


class AlertSummary(_Part):
    """One active alert."""

    id: str
    kind: str
    severity: str
    message: str
    created_at: datetime


class ActiveAlerts(_Part):
    """The active alerts: how many of each severity, and the newest ones."""

    active: int
    by_severity: dict[str, int]
    latest: list[AlertSummary]


class MaintenanceState(BaseModel):
    """Whether maintenance mode is on; the stored flag's fields when it is."""

    model_config = ConfigDict(extra="allow")

    state: Literal["on", "off", "unknown"]
    reason: str | None = None


class Dashboard(_Part):
    """The dashboard section."""

    jobs: JobCounts
    today: Today
    alerts: ActiveAlerts
    maintenance: MaintenanceState


class AgentState(_Part):
    """One agent: desired and observed state, and what its workers do."""

    id: str
    name: str
    agent_type: str
    desired_state: str
    observed_state: str
    paused: bool
    concurrency: int
    worker_counts: dict[str, int] = Field(description="Workers per health.")
    busy_workers: int


class WorkerState(_Part):
    """One worker process of an agent, judged by the age of its last heartbeat."""

    id: str
    agent_id: str
    agent_name: str
    host: str
    pid: int | None
    state: str
    current_job_id: str | None
    started_at: datetime
    last_heartbeat_at: datetime | None
    heartbeat_age_seconds: float | None
    health: str = Field(description="healthy, late, dead or stopped.")


class WorkerHealth(_Part):
    """The fleet's health: overall status, thresholds, workers per health."""

    status: str
    thresholds: dict[str, float]
    totals: dict[str, int]


class RunningJob(_Part):
    """A job being worked on now."""

    id: str
    kind: str
    agent_type: str | None
    agent_id: str | None
    worker_id: str | None
    progress: float
    attempts: int
    started_at: datetime | None


class AgentsWorkers(_Part):
    """The agents_workers section."""

    agents: list[AgentState]
    workers: list[WorkerState]
    worker_health: WorkerHealth
    current_jobs: list[RunningJob]
    totals: dict[str, int]


class Percentiles(_Part):
    """Latency percentiles in milliseconds, estimated from histogram buckets."""

    p50: float | None
    p95: float | None
    p99: float | None


class EndpointFigures(_Part):
    """Requests, latency, error rates and throughput of one endpoint."""

    route: str
    method: str
    requests: int
    rate_4xx: float | None
    rate_5xx: float | None
    throughput_rps: float
    latency_ms: Percentiles


class CacheFigures(_Part):
    """How the SSOT cache serves reads, and how long a collection takes."""

    reads: int
    hits: int
    misses: int
    hit_rate: float | None
    collections: int
    collection_ms: Percentiles


class ActionFigures(_Part):
    """Calls, outcomes and latency of one admin action."""

    action: str
    calls: int
    outcomes: dict[str, int]
    success_rate: float | None
    latency_ms: Percentiles


class ServiceFigures(_Part):
    """The service's own figures, aggregated over every worker (also at /metrics)."""

    since: datetime
    endpoints: list[EndpointFigures]
    ssot: CacheFigures
    actions: list[ActionFigures]


class Analytics(_Part):
    """The analytics section: ``/api/analytics/metrics`` and the service's figures."""

    jobs: dict[str, Any] = Field(
        description="What GET /api/analytics/metrics answers for the last 7 days."
    )
    service: ServiceFigures


class PauseFlag(BaseModel):
    """Who paused dispatch, when and why."""

    model_config = ConfigDict(extra="allow")

    by: str | None = None
    since: datetime | None = None
    reason: str | None = None


class AgentTypeDepth(_Part):
    """Queued jobs of one agent type, in all and per priority (9 first)."""

    total: int
    by_priority: dict[str, int]


class WaitingJob(_Part):
    """The job that has waited longest."""

    id: str
    kind: str
    agent_type: str | None
    priority: int
    queued_at: datetime | None
    waiting_seconds: float | None = None


class Queue(_Part):
    """The queue section: the queue service's status and the oldest waiting job."""

    paused: bool
    pause: PauseFlag | None
    depth: int
    by_agent_type: dict[str, AgentTypeDepth]
    oldest_waiting: WaitingJob | None


class LogEntry(_Part):
    """One stored log line."""

    id: int
    ts: datetime
    level: str
    logger: str
    message: str
    trace_id: str | None


class Logs(_Part):
    """The logs section: counts per level and the newest entries of each level."""

    window_hours: float
    counts: dict[str, int]
    recent: dict[str, list[LogEntry]]


class SectionState(_Part):
    """How one section was collected."""

    status: Literal["ok", "stale", "failed"] = Field(
        description="ok: collected now; stale: an older good value is shown "
        "(see as_of and error); failed: no value is known."
    )
    collection_ms: float
    as_of: datetime | None = Field(description="When the value shown was collected.")
    error: str | None = None
    reused: bool = Field(
        default=False,
        description="A slow-moving section's good value, reused rather than "
        "collected again (analytics: for 30 s).",
    )


class Meta(_Part):
    """When and how the document was made."""

    generated_at: datetime
    version: str
    registry_version: str | None
    collection_ms: float
    complete: bool = Field(description="Every section was collected now.")
    cache: Literal["stored", "uncached"] = Field(
        description="uncached: the state store did not answer; this copy was "
        "collected for this read only."
    )
    ttl_seconds: float
    sections: dict[str, SectionState]


class SSOTDocument(BaseModel):
    """The admin SSOT document; ``meta`` is always present."""

    dashboard: Dashboard | None = None
    agents_workers: AgentsWorkers | None = None
    analytics: Analytics | None = None
    queue: Queue | None = None
    logs: Logs | None = None
    meta: Meta
