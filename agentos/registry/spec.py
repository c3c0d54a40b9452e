"""The action spec: one declaration of ``actions.d/``, checked and completed.

An action spec is what the rest of the service knows about an action. The
pipeline reads its rate class, idempotency rule, audit level and PII fields;
authorization its permission and ownership rule; dispatch its target; the
OpenAPI document and the CLI its summary, schemas and examples. Defaults of
the format are applied here, once, so nobody downstream repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agentos.registry import schema as subset


class Mode(StrEnum):
    """How the endpoint answers an action."""

    SYNC = "sync"  # the reply carries the target's result
    ASYNC = "async"  # 202 with an execution id; progress at the status endpoint


class AuditLevel(StrEnum):
    """How much of a call the audit record keeps."""

    METADATA = "metadata"  # who, what, when, outcome
    REQUEST = "request"  # ... and the payload, PII scrubbed
    REQUEST_RESPONSE = "request_response"  # ... and the result


class Idempotency(StrEnum):
    """Whether a call must carry an idempotency key."""

    REQUIRED = "required"
    OPTIONAL = "optional"


@dataclass(frozen=True)
class Ownership:
    """The payload property that names a resource an own-only caller must own."""

    field: str
    resource: str


@dataclass(frozen=True)
class Deprecation:
    """When an action was deprecated, when it goes, and what replaces it."""

    since: str
    sunset: str | None = None
    replacement: str | None = None


@dataclass(frozen=True)
class ActionSpec:
    """Everything declared about one action, with the format's defaults applied.

    ``payload`` is the schema requests are validated against: unknown
    properties refused unless declared otherwise, ``confirm`` added where
    the action asks for it. ``declared_payload`` is the schema as written.
    ``result`` stays open as declared: a reply may grow new fields without
    breaking a client.
    """

    name: str
    summary: str
    view: str
    permission: str
    rate_class: str
    target: str
    payload: subset.Schema
    declared_payload: subset.Schema
    description: str = ""
    mode: Mode = Mode.SYNC
    result: subset.Schema | None = None
    audit: AuditLevel = AuditLevel.REQUEST
    ownership: Ownership | None = None
    confirm: bool = False
    idempotency: Idempotency = Idempotency.OPTIONAL
    deprecated: Deprecation | None = None
    examples: tuple[dict[str, Any], ...] = ()
    pii_fields: tuple[str, ...] = ()
    file: str = ""
    line: int | None = None

    @property
    def service(self) -> str:
        """The service half of the target (``jobs`` of ``jobs.cancel``)."""
        return self.target.split(".", 1)[0]

    @property
    def method(self) -> str:
        """The method half of the target."""
        return self.target.split(".", 1)[1]

    @property
    def parameters(self) -> list[str]:
        """The payload properties that the target receives, in declared order."""
        names = self.payload.get("properties", {})
        return [name for name in names if not self._is_confirm(name)]

    def _is_confirm(self, name: str) -> bool:
        return self.confirm and name == subset.CONFIRM_PROPERTY

    def summary_row(self) -> dict[str, Any]:
        """The one-line facts the CLI's list shows."""
        return {
            "name": self.name,
            "view": self.view,
            "permission": self.permission,
            "rate_class": self.rate_class,
            "target": self.target,
            "mode": self.mode.value,
        }

    def as_dict(self) -> dict[str, Any]:
        """Every fact, as JSON-able data (the CLI's show and docs use it)."""
        return {
            **self.summary_row(),
            "summary": self.summary,
            "description": self.description,
            "audit": self.audit.value,
            "idempotency": self.idempotency.value,
            "confirm": self.confirm,
            "ownership": _plain(self.ownership),
            "deprecated": _plain(self.deprecated),
            "pii_fields": list(self.pii_fields),
            "payload": self.payload,
            "result": self.result,
            "examples": list(self.examples),
            "source": f"{self.file}:{self.line}" if self.line else self.file,
        }


def _plain(value: Ownership | Deprecation | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {k: v for k, v in vars(value).items() if v is not None}


def build_spec(
    name: str,
    declaration: dict[str, Any],
    *,
    view: str,
    file: str = "",
    line: int | None = None,
) -> ActionSpec:
    """The spec of a declaration that passed the meta-schema.

    ``view`` is the action's view, already resolved against the file's
    default by the caller.
    """
    declared = declaration.get("payload") or subset.EMPTY_PAYLOAD
    confirm = bool(declaration.get("confirm", False))
    payload = subset.with_confirm(declared) if confirm else declared
    payload = subset.close(payload)

    return ActionSpec(
        name=name,
        summary=declaration["summary"],
        description=declaration.get("description", ""),
        view=view,
        permission=declaration.get("permission", name),
        rate_class=declaration["rate_class"],
        target=declaration["target"],
        mode=Mode(declaration.get("mode", Mode.SYNC)),
        payload=payload,
        declared_payload=declared,
        result=declaration.get("result"),
        audit=AuditLevel(declaration.get("audit", AuditLevel.REQUEST)),
        ownership=_ownership(declaration.get("ownership")),
        confirm=confirm,
        idempotency=Idempotency(declaration.get("idempotency", Idempotency.OPTIONAL)),
        deprecated=_deprecation(declaration.get("deprecated")),
        examples=tuple(declaration.get("examples") or ()),
        pii_fields=subset.pii_paths(payload),
        file=file,
        line=line,
    )


def _ownership(raw: dict[str, str] | None) -> Ownership | None:
    return None if raw is None else Ownership(raw["field"], raw["resource"])


def _deprecation(raw: dict[str, str] | None) -> Deprecation | None:
    if raw is None:
        return None
    return Deprecation(raw["since"], raw.get("sunset"), raw.get("replacement"))
