"""``policies/rate_limits.yaml``: the rate classes and tiers, as quotas.

Two kinds of limit live in the file:

* ``rate_classes``: per user and per action; each admin action names one
  (``standard``, ``high_risk``, ``critical``). No burst: 10/min means 10.
* ``tiers``: per caller over a whole surface of the API; ``per`` says
  whether the caller is its address (``ip``) or its subject (``user``). A
  tier may carry a ``burst`` tolerance, ``factor`` times its rate for
  ``seconds``, which becomes extra calls on top of its limit
  (``algorithms.burst_allowance``).

Both take an ``algorithm`` (``sliding_window`` unless stated). The tiers
the service applies are fixed by name (``REQUIRED_TIERS``); the action
registry checks the class names an action declares, this module the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentos.errors import ConfigError
from agentos.pipeline.ratelimit.algorithms import Algorithm, Quota, burst_allowance

RATE_LIMITS_FILE = "rate_limits.yaml"

REQUIRED_TIERS = ("public", "user", "admin_read", "admin_action")
"""The tiers the service applies; see ``middleware`` and ``RateLimiter.check``."""


class Per(StrEnum):
    """Whom a tier counts."""

    IP = "ip"  # the client address: callers without a token
    USER = "user"  # the token's subject


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Burst(_Strict):
    factor: float = Field(ge=1, le=100)
    seconds: float = Field(gt=0, le=3600)


class _RateClass(_Strict):
    limit: int = Field(ge=1)
    window_seconds: int = Field(ge=1, le=86_400)
    algorithm: Algorithm = Algorithm.SLIDING_WINDOW
    description: str = ""


class _Tier(_RateClass):
    per: Per
    burst: _Burst | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_classes: dict[str, _RateClass] = Field(min_length=1)
    tiers: dict[str, _Tier]


@dataclass(frozen=True)
class Tier:
    """A tier's quota and whom it counts."""

    quota: Quota
    per: Per


@dataclass(frozen=True)
class RateLimitPolicy:
    """Every rate class and tier, ready to spend."""

    classes: dict[str, Quota]
    tiers: dict[str, Tier]

    def rate_class(self, name: str) -> Quota:
        """The quota of the rate class ``name``; the registry vouches it exists."""
        return self.classes[name]


def load_rate_limits(directory: Path) -> RateLimitPolicy:
    """Read ``directory``'s ``rate_limits.yaml``; ``ConfigError`` names each mistake."""
    path = directory / RATE_LIMITS_FILE
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path} cannot be read as YAML: {exc}") from None
    return parse_rate_limits(document, str(path))


def parse_rate_limits(document: Any, shown: str = RATE_LIMITS_FILE) -> RateLimitPolicy:
    """The policy in an already parsed ``document``."""
    try:
        parsed = _File.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, shown)) from None

    missing = [name for name in REQUIRED_TIERS if name not in parsed.tiers]
    if missing:
        raise ConfigError(
            f"{shown}: /tiers must define {', '.join(missing)}; the service "
            f"applies the tiers {', '.join(REQUIRED_TIERS)}."
        )
    return RateLimitPolicy(
        classes={
            name: _class_quota(name, body) for name, body in parsed.rate_classes.items()
        },
        tiers={name: _tier(name, body) for name, body in parsed.tiers.items()},
    )


def _class_quota(name: str, body: _RateClass) -> Quota:
    return Quota(name, body.limit, body.window_seconds, 0, body.algorithm)


def _tier(name: str, body: _Tier) -> Tier:
    burst = 0
    if body.burst is not None:
        burst = burst_allowance(
            body.limit, body.window_seconds, body.burst.factor, body.burst.seconds
        )
    quota = Quota(name, body.limit, body.window_seconds, burst, body.algorithm)
    return Tier(quota=quota, per=body.per)


def _describe(exc: ValidationError, shown: str) -> str:
    lines = [f"{shown} has mistakes:"]
    for error in exc.errors(include_url=False):
        pointer = "/" + "/".join(str(part) for part in error["loc"])
        lines.append(f"  {pointer}: {error['msg']}")
    return "\n".join(lines)
