"""What every domain service shares: the caller, the call context, operations.

A service is a class with a ``name`` (the first half of an action's
``target``) whose public coroutine methods do the domain's work. The methods
an admin action may target are marked with ``@operation``; nothing else is
reachable from YAML, so a typo or a private helper can never become an action.

An operation is called as ``await service.method(ctx, **payload)``: the first
argument is the ``CallContext``, every other parameter is keyword-only and
named like a payload property. The registry checks at load time that each
action's payload properties match its target's parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

OPERATION_MARK = "__agentos_operation__"

F = TypeVar("F", bound=Callable[..., Coroutine[Any, Any, Any]])


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: who, with which roles, through which token."""

    subject: str
    roles: tuple[str, ...]
    token_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    def has_role(self, *roles: str) -> bool:
        """Whether the caller holds any of ``roles``."""
        return any(role in self.roles for role in roles)


SYSTEM = Principal(subject="system", roles=("admin",))
"""The principal of the service's own background work (managers, warmers)."""


@dataclass(frozen=True)
class CallContext:
    """Who calls an operation and under which request."""

    principal: Principal
    trace_id: str = ""
    client_ip: str | None = None
    own_only: bool = False
    """The caller may act only on resources it owns (the ``user`` role)."""


def operation(method: F) -> F:
    """Mark a service method as a target that admin actions may name."""
    setattr(method, OPERATION_MARK, True)
    return method


def is_operation(method: object) -> bool:
    """Whether ``method`` was marked with ``@operation``."""
    return callable(method) and bool(getattr(method, OPERATION_MARK, False))


class Service:
    """Base class of the domain services; ``name`` is the target prefix."""

    name: ClassVar[str]

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.db = deps.db
        self.state = deps.state
        self.settings = deps.settings


@dataclass
class Deps:
    """What a service is built from: the stores, the settings and its peers.

    ``services`` maps each service's ``name`` to its instance, so one service
    calls another (the jobs service asks the queue service to enqueue) without
    import cycles or globals.
    """

    db: Any
    state: Any
    settings: Any
    services: dict[str, Service] = field(default_factory=dict)
