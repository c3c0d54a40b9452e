"""Resolving an action's target to a service operation, and checking the fit.

A target ``service.method`` resolves only to a method marked ``@operation``
on a class of the service catalogue; nothing else is reachable from YAML.
The operation is called as ``method(ctx, **payload)``, so the payload's
properties and the method's keyword parameters must agree:

* every payload property is a parameter (unless the method takes
  ``**kwargs``);
* every parameter without a default is a required payload property.

``confirm`` is the endpoint's business and never reaches the method. The
checks run on classes, not instances, so ``agentos actions lint`` needs no
database.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from agentos.services.base import Service, is_operation

ServiceClasses = Mapping[str, type[Service]]


@dataclass(frozen=True)
class Signature:
    """The payload-facing parameters of an operation."""

    parameters: tuple[str, ...]
    required: frozenset[str]
    open: bool  # takes **kwargs: any property is welcome


def operations(cls: type[Service]) -> list[str]:
    """The names of ``cls``'s methods that actions may target."""
    return sorted(
        name for name, member in inspect.getmembers(cls) if is_operation(member)
    )


@cache
def signature_of(function: Any) -> Signature:
    """The keyword parameters of an operation, after ``self`` and ``ctx``."""
    parameters = list(inspect.signature(function).parameters.values())[2:]
    named = [
        p for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return Signature(
        parameters=tuple(p.name for p in named),
        required=frozenset(p.name for p in named if p.default is p.empty),
        open=any(p.kind is p.VAR_KEYWORD for p in parameters),
    )


def check_target(
    target: str,
    properties: list[str],
    required: list[str],
    classes: ServiceClasses,
) -> Iterator[tuple[str, str]]:
    """``(pointer suffix, message)`` for each way the target does not fit.

    The pointer suffix is relative to the action: ``/target`` or a place in
    its payload.
    """
    service, _, method = target.partition(".")
    cls = classes.get(service)
    if cls is None:
        known = ", ".join(sorted(classes)) or "none are registered"
        yield "/target", f"the target names no service '{service}'; services: {known}"
        return
    function = getattr(cls, method, None)
    if not is_operation(function):
        known = ", ".join(operations(cls)) or "none"
        message = (
            f"the {service} service has no operation '{method}' (a method marked "
            f"@operation); its operations: {known}"
        )
        yield "/target", message
        return
    yield from _check_parameters(target, signature_of(function), properties, required)


def _check_parameters(
    target: str, signature: Signature, properties: list[str], required: list[str]
) -> Iterator[tuple[str, str]]:
    accepted = ", ".join(signature.parameters) or "none"
    for name in properties:
        if name in signature.parameters or signature.open:
            continue
        message = (
            f"the payload property '{name}' is not a parameter of {target} "
            f"(its parameters: {accepted})"
        )
        yield f"/payload/properties/{name}", message
    for name in sorted(signature.required - set(required)):
        message = (
            f"{target} needs the parameter '{name}' (it has no default), so the "
            "payload must declare it and list it under required"
        )
        yield "/payload/required", message
