"""Settings: ``config.yaml`` overridden by ``AGENTOS_*`` variables, validated once.

Precedence, lowest first: the defaults below, the YAML file, the environment.
An environment variable is the key in upper case with the ``AGENTOS_`` prefix
(``AGENTOS_DATABASE_URL``); nested keys join with a double underscore
(``AGENTOS_SSOT__TTL_SECONDS``). Values from the environment are parsed as
YAML scalars, so ``8``, ``true`` and ``null`` mean what they look like.

A bad value stops the start: ``load_settings`` raises ``ConfigError`` whose
message names every bad key, the value given and what is allowed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentos.errors import ConfigError
from agentos.pipeline.settings import PipelineSettings

ENV_PREFIX = "AGENTOS_"
DEFAULT_CONFIG_FILE = Path("config.yaml")
DEV_KEY_FILE = "jwt-dev.key"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JWTSettings(_Section):
    """How access tokens are signed and checked."""

    secret: str | None = Field(
        default=None,
        description="HS256 signing key. Unset: a development key in data_dir.",
    )
    issuer: str = Field(default="agentos", description="Required `iss` claim.")
    audience: str = Field(default="agentos-api", description="Required `aud` claim.")
    access_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_ttl_seconds: int = Field(default=1_209_600, ge=300, le=7_776_000)
    refresh_family_lifetime_seconds: int = Field(
        default=2_592_000,
        ge=300,
        le=31_536_000,
        description="Absolute lifetime of a sign-in: a refresh token whose family "
        "began longer ago than this is refused with SESSION_EXPIRED, however "
        "often it was rotated.",
    )
    leeway_seconds: int = Field(default=10, ge=0, le=300)
    public_keys: dict[str, str] = Field(
        default_factory=dict,
        description="kid -> PEM public key (RS256 or ES256) accepted for verification.",
    )


class SSOTSettings(_Section):
    """The admin read model's cache and warmer."""

    ttl_seconds: float = Field(default=15, gt=0, le=3600)
    warm_interval_seconds: float = Field(default=5, gt=0, le=3600)
    section_timeout_seconds: float = Field(default=2, gt=0, le=60)
    local_copy_seconds: float = Field(
        default=1,
        ge=0,
        le=60,
        description="How long a process reuses the copy it last read before "
        "asking the state store again; 0 asks on every read.",
    )
    warmer_enabled: bool = Field(
        default=True,
        description="Rebuild the cache in the background (one process warms).",
    )
    bench_endpoint: bool = Field(
        default=False,
        description="Add the bare endpoint that bench/ssot_bench.py compares "
        "against; benchmarks only, never in production.",
    )


class UploadSettings(_Section):
    """Limits of chunked uploads."""

    max_file_bytes: int = Field(default=5 * 1024**3, ge=1)
    max_chunk_bytes: int = Field(default=16 * 1024**2, ge=1024)
    min_chunk_bytes: int = Field(default=64 * 1024, ge=1)
    finalize_grace_seconds: int = Field(
        default=600,
        ge=60,
        le=86_400,
        description="How long an upload may stay 'finalizing' before the stale "
        "sweep takes it for a crashed finalize and reopens it; keep it above the "
        "longest assembly of a max_file_bytes file.",
    )


class MetricsSettings(_Section):
    """Who may read ``GET /metrics``."""

    require_auth: bool = Field(
        default=True,
        description="Ask for an access token whose roles read everything "
        "(admin, operator, supervisor, readonly); off serves the figures to "
        "anyone who reaches the port.",
    )


class Settings(_Section):
    """Every setting of the service; see config.yaml for each key's meaning."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    workers: int = Field(default=1, ge=1, le=64)
    database_url: str | None = Field(
        default=None, description="postgresql://... ; unset: SQLite under data_dir."
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    migrate_on_start: bool = True
    redis_url: str | None = Field(
        default=None, description="redis://... ; unset: in-memory state, one worker."
    )
    redis_prefix: str = Field(default="agentos:", min_length=1, max_length=64)
    data_dir: Path = Path("var")
    actions_dir: Path = Path("actions.d")
    policies_dir: Path = Path("policies")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "text"
    access_log: bool = True
    request_max_bytes: int = Field(default=100_000_000, ge=1024)
    cors_origins: list[str] = Field(default_factory=list)
    rate_limits_enabled: bool = Field(
        default=True,
        description="Apply policies/rate_limits.yaml; off only for tests and "
        "benchmarks that must not be throttled.",
    )
    jwt: JWTSettings = JWTSettings()
    ssot: SSOTSettings = SSOTSettings()
    uploads: UploadSettings = UploadSettings()
    metrics: MetricsSettings = MetricsSettings()
    pipeline: PipelineSettings = PipelineSettings()

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str | None) -> str | None:
        allowed = ("postgresql://", "postgres://", "sqlite:///")
        if value is not None and not value.startswith(allowed):
            raise ValueError(f"must start with one of {', '.join(allowed)}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must start with redis:// or rediss://")
        return value

    @property
    def embedded(self) -> bool:
        """Whether the service runs on SQLite and in-memory state."""
        return self.database_url is None and self.redis_url is None


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the YAML file, apply the environment and ``overrides``, validate."""
    env = os.environ if env is None else env
    path = Path(env.get("AGENTOS_CONFIG", path or DEFAULT_CONFIG_FILE))
    document = _read_yaml(path)
    _merge(document, _from_environment(env))
    _merge(document, dict(overrides or {}))
    try:
        return Settings.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path} must hold a mapping of settings at its top level.")
    return document


def _from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == "AGENTOS_CONFIG":
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if path[0] not in Settings.model_fields:
            continue
        _merge(document, _nest(path, _parse_scalar(raw)))
    return document


def _parse_scalar(raw: str) -> Any:
    text = raw.strip()
    if not text:
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return raw
    # Only flow syntax makes a list or mapping: "prefix:" stays a string.
    if isinstance(value, dict | list) and text[0] not in "[{":
        return raw
    return value


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    # A path split from a variable's name is never empty, so value is wrapped.
    return cast(dict[str, Any], value)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _describe(exc: ValidationError, path: Path) -> str:
    lines = [f"invalid configuration ({path} and AGENTOS_* variables):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        env_name = ENV_PREFIX + "__".join(str(p) for p in error["loc"]).upper()
        given = error.get("input")
        shown = "<hidden>" if "secret" in key else repr(given)
        lines.append(
            f"  {key} (env {env_name}) = {shown}: {error['msg']}"
        )
    return "\n".join(lines)


def jwt_signing_key(settings: Settings) -> tuple[str, bool]:
    """The HS256 key, and whether it is a generated development key.

    Without a configured secret, a random key is made once and kept in
    ``data_dir`` so that tokens survive restarts of a development server.
    """
    if settings.jwt.secret:
        return settings.jwt.secret, False
    key_file = settings.data_dir / DEV_KEY_FILE
    if key_file.exists():
        return key_file.read_text().strip(), True
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key, True


def settings_json_schema() -> dict[str, Any]:
    """The JSON Schema of config.yaml, as committed in schemas/config.schema.json."""
    schema = Settings.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://agentos.local/schemas/config.schema.json"
    return schema
