"""Request and response models of the agents endpoints, as OpenAPI documents them.

Responses are described, not enforced: handlers answer with what the agents
service returns, and the route tests check that answers match these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentos.services.agent_definitions import FleetConfig

Health = Literal["healthy", "late", "dead", "stopped"]


class WorkerInfo(BaseModel):
    """One worker process of an agent, as its heartbeats describe it."""

    id: str
    agent_id: str
    agent_name: str | None = None
    host: str
    pid: int | None
    state: Literal["starting", "idle", "busy", "draining", "stopped"]
    current_job_id: str | None
    started_at: datetime
    last_heartbeat_at: datetime | None
    heartbeat_age_seconds: float | None
    health: Health


class JobKindOut(BaseModel):
    """A kind of job an agent takes and the JSON Schema of its params."""

    kind: str = Field(examples=["clip.cut"])
    params_schema: dict[str, Any]


class AgentInfo(BaseModel):
    """An agent definition, its desired state and what its workers do."""

    id: str
    name: str = Field(examples=["clipper"])
    agent_type: str
    desired_state: Literal["running", "draining", "stopped"]
    observed_state: Literal["running", "draining", "starting", "stopped"]
    paused: bool
    concurrency: int = Field(ge=0)
    generation: int = Field(ge=0, description="Raised by every restart.")
    config: dict[str, Any]
    job_kinds: list[JobKindOut]
    created_at: datetime
    updated_at: datetime
    worker_counts: dict[str, int] = Field(
        description="Workers per health: healthy, late, dead, stopped."
    )
    busy_workers: int = Field(ge=0)
    workers: list[WorkerInfo] | None = None


class AgentStatus(BaseModel):
    """Every agent, with counts by desired and observed state."""

    total: int
    by_desired_state: dict[str, int]
    by_observed_state: dict[str, int]
    agents: list[AgentInfo]


class RestartRequest(BaseModel):
    """Which agents to restart; every agent when ``agent_ids`` is left out."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"agent_ids": ["clipper"]}}
    )

    agent_ids: list[str] | None = Field(default=None, min_length=1, max_length=100)


class Restarted(BaseModel):
    """The agents a restart reached, each with its new generation."""

    restarted: int
    agents: list[AgentInfo]


class AgentPerformance(BaseModel):
    """One agent's finished jobs over the window."""

    id: str
    name: str
    agent_type: str
    window_minutes: int
    jobs_finished: int
    succeeded: int
    failed: int
    jobs_per_minute: float
    success_rate: float | None = Field(description="succeeded / (succeeded + failed)")
    duration_p50_seconds: float | None
    duration_p95_seconds: float | None


class AgentsPerformance(BaseModel):
    """Per-agent performance over one window."""

    window_minutes: int
    since: datetime
    truncated: bool = Field(description="More jobs finished than were measured.")
    agents: list[AgentPerformance]


class HeartbeatThresholds(BaseModel):
    """Heartbeat ages at which a worker turns late and dead."""

    late_seconds: int
    dead_seconds: int


class WorkersHealth(BaseModel):
    """Heartbeat age and health of every reported worker."""

    status: Literal["ok", "degraded"]
    thresholds: HeartbeatThresholds
    totals: dict[str, int]
    workers: list[WorkerInfo]


class AgentLogLine(BaseModel):
    """One stored log line."""

    id: int
    ts: datetime
    level: str
    logger: str
    message: str
    agent_id: str | None
    job_id: str | None
    trace_id: str | None
    fields: dict[str, Any]


class FleetConfigVersion(BaseModel):
    """The fleet settings of every agent, at one version."""

    id: str = Field(examples=["agents"])
    scope: str
    version: int = Field(ge=0, description="0 while the defaults apply.")
    document: FleetConfig
    actor: str | None
    comment: str | None
    created_at: datetime | None
    changed: bool | None = None


class FleetConfigUpdate(BaseModel):
    """A merge patch of the fleet settings (``null`` restores a default)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {
            "config": {"heartbeat_late_seconds": 20}, "comment": "slow hosts",
            "base_version": 3,
        }},
    )

    config: dict[str, Any]
    comment: str | None = Field(default=None, max_length=500)
    base_version: int | None = Field(
        default=None, ge=0,
        description="Apply only if this is still the current version (else 409).",
    )


class AgentQueue(BaseModel):
    """The jobs queued for an agent's type, next first."""

    id: str
    agent: str
    agent_type: str
    jobs: list[dict[str, Any]]


class ClearQueueRequest(BaseModel):
    """Cancel every queued job of one agent's type."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"agent_id": "clipper", "confirm": True}},
    )

    agent_id: str = Field(min_length=1, max_length=64)
    confirm: Literal[True] = Field(description="Must be true: the jobs are cancelled.")


class QueueCleared(BaseModel):
    """How many queued jobs a clear cancelled."""

    id: str
    agent: str
    agent_type: str
    result: dict[str, int]
