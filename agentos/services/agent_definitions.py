"""What an agent definition may hold, and the fleet-wide agent settings.

Every write to an agent goes through these models, so a definition in the
database is always one the workers and the jobs service can rely on:

* an agent's ``job_kinds`` list each kind it takes with a JSON Schema for
  that kind's ``params`` (the jobs service validates job params with it), and
  the schema itself is checked against the JSON Schema meta-schema here;
* an agent's ``config`` has known keys with bounds; agent-specific values go
  under ``options`` as scalars;
* the fleet settings (``GET``/``POST /api/agents/config``) say when a
  heartbeat counts as late or dead and over which window performance is
  measured.

``merge_patch`` applies an RFC 7386 JSON merge patch: ``null`` removes a key.
"""

from __future__ import annotations

import json
from typing import Any, Self, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agentos.errors import BadRequest
from agentos.http.body import validation_details

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
KIND_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
RESERVED_NAMES = frozenset(
    {"status", "health", "performance", "config", "restart", "clear-queue",
     "logs", "queue"}
)
"""Words of /api/agents/... paths, which an agent name would be hidden behind."""
MAX_CONCURRENCY = 1024
MAX_SCHEMA_BYTES = 32 * 1024

Scalar = str | int | float | bool | None
M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobKind(_Strict):
    """One kind of job an agent takes, with the schema of its params."""

    kind: str = Field(max_length=64, pattern=KIND_PATTERN, examples=["clip.cut"])
    params_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"},
        description="JSON Schema (2020-12) of the job's params; must describe an "
        "object.",
    )

    @field_validator("params_schema")
    @classmethod
    def _is_json_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
            raise ValueError(f"must be at most {MAX_SCHEMA_BYTES} bytes as JSON")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
            raise ValueError(f"is not a valid JSON Schema at {where}: "
                             f"{exc.message}") from None
        if schema.get("type") != "object":
            raise ValueError("must describe an object: set \"type\": \"object\"")
        return schema


class AgentConfig(_Strict):
    """An agent's run settings; each has a default and bounds."""

    timeout_seconds: int = Field(default=3600, ge=1, le=86_400,
                                 description="Longest a job may run.")
    max_attempts: int = Field(default=3, ge=1, le=20,
                              description="Runs of a job before it stays failed.")
    heartbeat_interval_seconds: int = Field(default=5, ge=1, le=300)
    labels: dict[str, str] = Field(default_factory=dict, max_length=32)
    options: dict[str, Scalar] = Field(
        default_factory=dict, max_length=64,
        description="Agent-specific settings, scalars only.",
    )

    @field_validator("labels", "options")
    @classmethod
    def _short_keys(cls, mapping: dict[str, Any]) -> dict[str, Any]:
        for key, value in mapping.items():
            if not 1 <= len(key) <= 64:
                raise ValueError(f"key {key[:70]!r} must be 1 to 64 characters")
            if isinstance(value, str) and len(value) > 1024:
                raise ValueError(f"value of {key!r} must be at most 1024 characters")
        return mapping


class AgentDefinition(_Strict):
    """Everything ``register`` needs to add an agent."""

    name: str = Field(pattern=NAME_PATTERN, examples=["clipper"])
    agent_type: str = Field(pattern=NAME_PATTERN, examples=["clipper"])
    job_kinds: list[JobKind] = Field(min_length=1, max_length=32)
    concurrency: int = Field(default=1, ge=1, le=MAX_CONCURRENCY)
    config: AgentConfig = Field(default_factory=AgentConfig)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_NAMES:
            raise ValueError(f"'{name}' is a word of the agents API; choose another")
        return name

    @field_validator("job_kinds")
    @classmethod
    def _unique_kinds(cls, kinds: list[JobKind]) -> list[JobKind]:
        names = [kind.kind for kind in kinds]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"each kind may appear once; repeated: {repeated}")
        return kinds


class FleetConfig(_Strict):
    """Settings that apply to every agent, versioned in ``config_versions``."""

    heartbeat_late_seconds: int = Field(
        default=15, ge=1, le=3600,
        description="A worker silent this long is late.",
    )
    heartbeat_dead_seconds: int = Field(
        default=60, ge=2, le=86_400,
        description="A worker silent this long is dead; its jobs may be reclaimed.",
    )
    performance_window_minutes: int = Field(
        default=60, ge=1, le=10_080,
        description="Window of GET /api/agents/performance when none is asked for.",
    )
    max_concurrency: int = Field(
        default=64, ge=1, le=MAX_CONCURRENCY,
        description="Highest concurrency any agent may be given.",
    )

    @model_validator(mode="after")
    def _dead_after_late(self) -> Self:
        if self.heartbeat_dead_seconds <= self.heartbeat_late_seconds:
            raise ValueError(
                "heartbeat_dead_seconds must be greater than heartbeat_late_seconds"
            )
        return self


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with RFC 7386 merge ``patch`` applied; neither is modified."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def validated(model: type[M], data: Any, pointer: str = "") -> M:
    """``data`` validated by ``model``, or a 400 whose pointers start at ``pointer``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        for detail in details:
            detail["pointer"] = pointer + detail["pointer"]
        raise BadRequest(details=details) from None
