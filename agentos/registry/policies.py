"""The policies the registry checks actions against: roles and rate classes.

``policies/roles.yaml`` names the permissions that exist (globs such as
``job.*``) and, per role, which permissions it is granted (``allow``),
which it never is (``deny``, stronger than any allow of the same role), and
whether it acts on everything or only on what the caller owns (``scope:
own``). ``policies/rate_limits.yaml`` names the rate classes.

The registry needs only the names of the rate classes; their numbers and any
other keys of that file belong to the rate limiter, so unknown keys there are
kept, not refused. The roles file, by contrast, is read in full here and
refuses unknown keys: a misspelt ``deny`` must not pass for no rule at all.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from agentos.registry.metaschema import check_file
from agentos.registry.problems import Problem
from agentos.registry.schema import validator
from agentos.registry.source import SourceFile, read_yaml

ROLES_FILE = "roles.yaml"
RATE_LIMITS_FILE = "rate_limits.yaml"

_GLOB = {"type": "string", "pattern": r"^[a-z0-9_.*?]+$"}
_GLOBS = {"type": "array", "items": _GLOB, "uniqueItems": True}

ROLES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["permissions", "roles"],
    "properties": {
        "permissions": {**_GLOBS, "minItems": 1},
        "roles": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[a-z][a-z0-9_]*$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["allow"],
                "properties": {
                    "description": {"type": "string"},
                    "allow": _GLOBS,
                    "deny": _GLOBS,
                    "scope": {"enum": ["all", "own"]},
                },
            },
        },
    },
}

RATE_LIMITS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["rate_classes"],
    "properties": {
        "rate_classes": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[a-z][a-z0-9_]*$"},
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "limit": {"type": "integer", "minimum": 1},
                    "window_seconds": {"type": "number", "exclusiveMinimum": 0},
                },
            },
        },
    },
}


class Scope(StrEnum):
    """What a role's grants reach."""

    ALL = "all"  # every resource
    OWN = "own"  # only resources the caller owns; needs the action's ownership


@dataclass(frozen=True)
class Role:
    """A role: the permissions it is granted and denied, and its scope."""

    name: str
    allow: tuple[str, ...]
    deny: tuple[str, ...] = ()
    scope: Scope = Scope.ALL
    description: str = ""

    def grants(self, permission: str) -> bool:
        """Whether this role grants ``permission``; a deny beats every allow."""
        if matches_any(permission, self.deny):
            return False
        return matches_any(permission, self.allow)


@dataclass(frozen=True)
class RateClass:
    """A rate class by name; the numbers are the rate limiter's business."""

    name: str
    limit: int | None = None
    window_seconds: float | None = None
    settings: dict[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        """``50/60s``, or the bare name when the numbers are not given."""
        if self.limit is None or self.window_seconds is None:
            return self.name
        return f"{self.limit}/{self.window_seconds:g}s"


@dataclass(frozen=True)
class Policies:
    """The roles, the known permissions and the rate classes."""

    roles: dict[str, Role]
    permissions: tuple[str, ...]
    rate_classes: dict[str, RateClass]
    files: tuple[tuple[str, Path], ...] = ()

    def knows_permission(self, permission: str) -> bool:
        """Whether ``permission`` is one that ``roles.yaml`` says exists."""
        return matches_any(permission, self.permissions)


def matches_any(name: str, globs: Iterable[str]) -> bool:
    """Whether ``name`` matches one of the shell-style ``globs``."""
    return any(fnmatch.fnmatchcase(name, glob) for glob in globs)


def load_policies(directory: Path, shown: str) -> tuple[Policies | None, list[Problem]]:
    """Read both policy files of ``directory``; ``shown`` prefixes file names."""
    roles_file, problems = _read(directory / ROLES_FILE, f"{shown}/{ROLES_FILE}")
    limits_file, more = _read(
        directory / RATE_LIMITS_FILE, f"{shown}/{RATE_LIMITS_FILE}"
    )
    problems += more
    if roles_file is not None:
        problems += check_file(roles_file, validator(ROLES_SCHEMA))
    if limits_file is not None:
        problems += check_file(limits_file, validator(RATE_LIMITS_SCHEMA))
    if problems or roles_file is None or limits_file is None:
        return None, problems

    files = (
        (roles_file.name, directory / ROLES_FILE),
        (limits_file.name, directory / RATE_LIMITS_FILE),
    )
    return Policies(
        roles=_roles(roles_file.data["roles"]),
        permissions=tuple(roles_file.data["permissions"]),
        rate_classes=_rate_classes(limits_file.data["rate_classes"]),
        files=files,
    ), []


def _read(path: Path, name: str) -> tuple[SourceFile | None, list[Problem]]:
    if not path.is_file():
        return None, [Problem(name, None, "", "is missing; the registry needs it")]
    return read_yaml(path, name)


def _roles(raw: dict[str, dict[str, Any]]) -> dict[str, Role]:
    return {
        name: Role(
            name=name,
            allow=tuple(body.get("allow", ())),
            deny=tuple(body.get("deny", ())),
            scope=Scope(body.get("scope", Scope.ALL)),
            description=body.get("description", ""),
        )
        for name, body in raw.items()
    }


def _rate_classes(raw: dict[str, dict[str, Any]]) -> dict[str, RateClass]:
    return {
        name: RateClass(
            name=name,
            limit=body.get("limit"),
            window_seconds=body.get("window_seconds"),
            settings=dict(body),
        )
        for name, body in raw.items()
    }
