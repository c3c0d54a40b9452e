"""The registry: every action spec, its model, the union and the permission index.

A ``Registry`` is built once from a clean load and never changes; a reload
builds a new one and swaps the reference (see ``agentos.registry.reload``).
So a request that picked up a registry finishes on it, whatever reloads
meanwhile.

The endpoint uses it in three steps, with the pipeline's stages between
them::

    spec = registry.resolve(document)            # 400 UNKNOWN_ACTION
    decision = registry.authorize(principal, spec)  # 403 FORBIDDEN
    call = registry.validate(spec, document)     # 400 VALIDATION_ERROR
    await call.dispatch(services, ctx)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from agentos.errors import BadRequest, Forbidden, UnknownAction
from agentos.registry.models import arguments, error_details, request_model, union_of
from agentos.registry.permissions import Decision, PermissionIndex
from agentos.registry.policies import Policies
from agentos.registry.spec import ActionSpec
from agentos.services.base import CallContext, Principal, Service


@dataclass(frozen=True)
class Call:
    """A validated request: the action and the target's keyword arguments."""

    spec: ActionSpec
    arguments: dict[str, Any]

    async def dispatch(self, services: Mapping[str, Service], ctx: CallContext) -> Any:
        """Run the target operation with the call's arguments."""
        method = getattr(services[self.spec.service], self.spec.method)
        return await method(ctx, **self.arguments)


@dataclass(frozen=True, eq=False)
class Registry:
    """One immutable generation of the declared actions."""

    version: str
    specs: Mapping[str, ActionSpec]
    policies: Policies
    permissions: PermissionIndex
    models: Mapping[str, type[BaseModel]] = field(repr=False)
    union: TypeAdapter[Any] | None = field(repr=False)
    load_ms: float = 0.0

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __iter__(self) -> Iterator[ActionSpec]:
        return iter(self.specs.values())

    def spec(self, name: str) -> ActionSpec:
        """The spec of the action ``name``; 400 UNKNOWN_ACTION if none."""
        spec = self.specs.get(name)
        if spec is None:
            raise UnknownAction(_unknown_message(name, self.specs))
        return spec

    def resolve(self, document: Any) -> ActionSpec:
        """The spec a request body names in its ``action`` field."""
        if not isinstance(document, dict):
            raise BadRequest(
                'The body must be a JSON object: {"action": "...", "payload": {...}}.',
                details=[{"pointer": "/", "message": "must be an object"}],
            )
        name = document.get("action")
        if not isinstance(name, str):
            message = "is required" if name is None else "must be a string"
            raise BadRequest(
                "Name the action to run in the body's 'action' field.",
                details=[{"pointer": "/action", "message": message}],
            )
        return self.spec(name)

    def authorize(self, principal: Principal, spec: ActionSpec) -> Decision:
        """How ``principal`` may run ``spec``; 403 FORBIDDEN if it may not."""
        decision = self.permissions.decide(principal.roles, spec.name)
        if not decision:
            raise Forbidden(
                f"Your roles ({', '.join(principal.roles) or 'none'}) do not grant "
                f"the permission '{spec.permission}' that '{spec.name}' needs."
            )
        return decision

    def validate(self, spec: ActionSpec, document: Any) -> Call:
        """The request validated by the union; 400 VALIDATION_ERROR with details."""
        assert self.union is not None  # resolve() found an action, so there is one
        try:
            request = self.union.validate_python(document)
        except ValidationError as exc:
            raise BadRequest(
                f"The request for '{spec.name}' is not valid; correct the fields "
                "named in details.",
                details=error_details(exc, spec.name),
            ) from None
        return Call(spec, arguments(request, spec.confirm))

    def views(self) -> dict[str, list[ActionSpec]]:
        """The actions grouped by view, views and actions in name order."""
        grouped: dict[str, list[ActionSpec]] = {}
        for spec in sorted(self.specs.values(), key=lambda s: (s.view, s.name)):
            grouped.setdefault(spec.view, []).append(spec)
        return grouped


def build_registry(
    specs: Mapping[str, ActionSpec],
    policies: Policies,
    version: str,
    *,
    load_ms: float = 0.0,
) -> Registry:
    """Generate the models, the union and the index for checked specs."""
    ordered = dict(sorted(specs.items()))
    models = {name: request_model(spec) for name, spec in ordered.items()}
    return Registry(
        version=version,
        specs=ordered,
        policies=policies,
        permissions=PermissionIndex(policies, ordered),
        models=models,
        union=union_of(list(models.values())),
        load_ms=load_ms,
    )


SUGGEST_UP_TO = 2_000
"""Above this many actions an unknown name gets no "did you mean" (it costs)."""


def _unknown_message(name: str, specs: Mapping[str, ActionSpec]) -> str:
    few = len(specs) <= SUGGEST_UP_TO
    close = difflib.get_close_matches(name, list(specs), n=1) if few else []
    hint = f"; did you mean '{close[0]}'?" if close else "."
    return (
        f"There is no action named '{name[:80]}'{hint} The request body schema in "
        "/docs/openapi.json lists every action."
    )
