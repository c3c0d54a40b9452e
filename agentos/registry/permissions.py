"""The permission index: who may run which action, computed once per registry.

The rules, from ``policies/roles.yaml``:

* a role grants an action when one of its ``allow`` globs matches the
  action's permission and none of its ``deny`` globs does (deny wins, within
  the role);
* a role with ``scope: own`` grants only actions that declare
  ``ownership``, and only on resources the caller owns; the target checks
  ownership, told by ``CallContext.own_only``;
* a principal may run an action when any of its roles grants it; a grant
  with scope ``all`` beats one with scope ``own``. Unknown roles grant
  nothing.

Every (role, action) pair is decided when the registry loads, so a request's
authorization is a dictionary lookup per role, and the policy tools can ask
both "who may run X" and "what may role R run" without evaluating globs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agentos.registry.policies import Policies, Role, Scope
from agentos.registry.spec import ActionSpec


@dataclass(frozen=True)
class Decision:
    """The answer to "may these roles run this action?"."""

    allowed: bool
    own_only: bool = False
    role: str | None = None  # the role that grants it, when allowed

    def __bool__(self) -> bool:
        return self.allowed


DENIED = Decision(allowed=False)


class PermissionIndex:
    """Role x action grants, precomputed from the roles and the action specs."""

    def __init__(self, policies: Policies, specs: Mapping[str, ActionSpec]) -> None:
        self._roles = dict(policies.roles)
        self._grants: dict[str, dict[str, Scope]] = {
            role.name: _grants_of(role, specs.values()) for role in self._roles.values()
        }

    @property
    def roles(self) -> list[str]:
        """The role names the policies define."""
        return sorted(self._roles)

    def decide(self, roles: Iterable[str], action: str) -> Decision:
        """Whether a caller holding ``roles`` may run ``action``, and how."""
        best = DENIED
        for role in roles:
            scope = self._grants.get(role, {}).get(action)
            if scope is Scope.ALL:
                return Decision(allowed=True, own_only=False, role=role)
            if scope is Scope.OWN and not best:
                best = Decision(allowed=True, own_only=True, role=role)
        return best

    def actions_of(self, role: str) -> dict[str, Scope]:
        """What ``role`` may run: action name -> scope, in name order."""
        return dict(sorted(self._grants.get(role, {}).items()))

    def roles_for(self, action: str) -> dict[str, Scope]:
        """Who may run ``action``: role name -> scope, in name order."""
        return {
            role: grants[action]
            for role, grants in sorted(self._grants.items())
            if action in grants
        }

    def allows(self, roles: Iterable[str], permission: str) -> bool:
        """Whether ``roles`` hold ``permission`` that is not an action's.

        For the permissions of reads (``ssot.read``): evaluated on demand,
        with the same allow and deny rules; scope does not apply.
        """
        return any(
            role in self._roles and self._roles[role].grants(permission)
            for role in roles
        )


def _grants_of(role: Role, specs: Iterable[ActionSpec]) -> dict[str, Scope]:
    grants = {}
    for spec in specs:
        if not role.grants(spec.permission):
            continue
        if role.scope is Scope.OWN and spec.ownership is None:
            continue  # nothing tells whose resource it is: not grantable
        grants[spec.name] = role.scope
    return grants
