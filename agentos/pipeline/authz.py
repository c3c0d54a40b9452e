"""Authorization: may this principal run this action, from this address, on this?

Three rules, checked in this order, the first refusal deciding:

1. **Address.** The client address must lie in the admin allowlist of
   ``policies/access.yaml``, and in the list of every ``action_ip_rules``
   glob that matches the action. Refused: 403 ``IP_NOT_ALLOWED``.
2. **Roles.** One of the principal's roles must grant the action, as the
   registry's permission index decided when it loaded
   (``agentos.registry.permissions``). Refused: 403 ``FORBIDDEN``.
3. **Ownership.** When only an own-only role (``scope: own``) grants it,
   the resource named by the action's ``ownership`` field must belong to
   the caller. The target service tells the owner (``owner_of``). Refused:
   404 ``NOT_FOUND``, worded exactly like a resource that does not exist,
   so that a caller cannot probe for other users' resources.

Every decision names the rule that made it (``Decision.rule``), for the
audit record. The first two rules are ``decide``, a plain function; the
third needs the store and is ``authorize``, which the endpoint calls::

    decision = await authorize(
        registry.permissions, spec, principal, payload, client_ip,
        access=app.ctx.access_policy, services=app.ctx.services,
    )
    decision.raise_if_denied()      # 403 / 404, else carry on
    ctx = CallContext(..., own_only=decision.own_only)

Admin reads (``GET /api/admin/ssot`` and the like) are not actions: the
request middleware ``guard_admin_reads`` holds them to the address rule
before any route runs. ``POST /api/admin/action`` is left to ``authorize``
so that the action pipeline audits the refusal with everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agentos.errors import AgentOSError, BadRequest, Forbidden, IPNotAllowed, NotFound
from agentos.logs import log_event
from agentos.pipeline.access_policy import AccessPolicy, contains
from agentos.pipeline.client_ip import request_client_ip
from agentos.registry.permissions import PermissionIndex
from agentos.registry.spec import ActionSpec
from agentos.services.base import Principal

logger = logging.getLogger("agentos.auth")

ADMIN_PREFIX = "/api/admin/"
ACTION_PATH = "/api/admin/action"


class OwnerLookup(Protocol):
    """What a target service offers so that own-only callers can be checked."""

    async def owner_of(self, resource_id: str) -> str | None:
        """The subject that owns ``resource_id``; ``None`` if it does not exist."""


@dataclass(frozen=True)
class Decision:
    """An authorization decision and the rule that made it."""

    allowed: bool
    rule: str
    own_only: bool = False
    role: str | None = None
    error: AgentOSError | None = None

    def raise_if_denied(self) -> None:
        """Raise the refusal's error (403 or 404) unless allowed."""
        if not self.allowed:
            raise self.error or Forbidden()


def _denied(rule: str, error: AgentOSError) -> Decision:
    return Decision(allowed=False, rule=rule, error=error)


def check_address(
    access: AccessPolicy, client_ip: str, action: str | None = None
) -> Decision:
    """Whether ``client_ip`` may reach the admin surface (and ``action``)."""
    if contains(access.admin_allowlist, client_ip) is None:
        return _denied(
            "access.admin_allowlist",
            IPNotAllowed(
                f"Admin requests are not accepted from {client_ip}; ask an "
                "administrator to add your network to the admin allowlist."
            ),
        )

    for glob, networks in access.rules_for(action or ""):
        if contains(networks, client_ip) is None:
            return _denied(
                f"access.action_ip_rules[{glob}]",
                IPNotAllowed(
                    f"'{action}' is not accepted from {client_ip}; it is limited "
                    "to the networks that policies/access.yaml lists for it."
                ),
            )
    return Decision(allowed=True, rule="access.admin_allowlist")


def decide(
    index: PermissionIndex,
    spec: ActionSpec,
    principal: Principal,
    client_ip: str,
    access: AccessPolicy,
) -> Decision:
    """The address and role rules for one call; ownership is ``authorize``'s."""
    address = check_address(access, client_ip, spec.name)
    if not address.allowed:
        return address

    grant = index.decide(principal.roles, spec.name)
    if not grant:
        held = ", ".join(principal.roles) or "none"
        return _denied(
            f"roles: no role of [{held}] grants {spec.permission}",
            Forbidden(
                f"Your roles ({held}) do not grant the permission "
                f"'{spec.permission}' that '{spec.name}' needs."
            ),
        )

    scope = "own resources" if grant.own_only else "all resources"
    return Decision(
        allowed=True,
        rule=f"roles: {grant.role} grants {spec.permission} on {scope}",
        own_only=grant.own_only,
        role=grant.role,
    )


async def authorize(
    index: PermissionIndex,
    spec: ActionSpec,
    principal: Principal,
    payload: Any,
    client_ip: str,
    *,
    access: AccessPolicy,
    services: Mapping[str, Any],
) -> Decision:
    """``decide``, then for an own-only grant the ownership of the resource."""
    decision = decide(index, spec, principal, client_ip, access)
    if not decision.allowed or not decision.own_only:
        return decision
    return await _check_ownership(decision, spec, principal, payload, services)


async def _check_ownership(
    decision: Decision,
    spec: ActionSpec,
    principal: Principal,
    payload: Any,
    services: Mapping[str, Any],
) -> Decision:
    assert spec.ownership is not None  # the index grants own-only scope only then
    field, resource = spec.ownership.field, spec.ownership.resource
    resource_id = payload.get(field) if isinstance(payload, dict) else None
    if not isinstance(resource_id, str) or not resource_id:
        return _denied(
            f"ownership: no {field} to check",
            BadRequest(
                f"Name the {resource} to act on in the payload's '{field}'.",
                details=[{"pointer": f"/payload/{field}", "message": "is required"}],
            ),
        )

    owner = await _owner(services.get(spec.service), spec, resource_id)
    if owner != principal.subject:
        return _denied(
            f"ownership: {resource} {resource_id[:64]} is not the caller's",
            NotFound(f"No {resource} with this id is visible to you."),
        )
    return Decision(
        allowed=True,
        rule=f"{decision.rule}; ownership: {resource} is the caller's",
        own_only=True,
        role=decision.role,
    )


async def _owner(service: Any, spec: ActionSpec, resource_id: str) -> str | None:
    lookup = getattr(service, "owner_of", None)
    if lookup is None:
        # Fail closed: without a way to tell owners, nobody own-only passes.
        log_event(
            logger,
            "authz.owner_unknown",
            logging.ERROR,
            action=spec.name,
            service=spec.service,
            hint=f"give the {spec.service} service an owner_of(resource_id) method",
        )
        return None
    owner = await lookup(resource_id)
    return None if owner is None else str(owner)


async def guard_admin_reads(request: Any) -> None:
    """Request middleware: admin reads only from the admin allowlist (403)."""
    path = request.path
    if not path.startswith(ADMIN_PREFIX) or path.rstrip("/") == ACTION_PATH:
        return
    access: AccessPolicy | None = getattr(request.app.ctx, "access_policy", None)
    if access is None:
        return
    address = request_client_ip(request, access.trusted_proxies)
    check_address(access, address).raise_if_denied()
