"""The permission index: allow and deny globs, own-only scope, several roles."""

from __future__ import annotations

from typing import Any

import pytest

from agentos.errors import Forbidden
from agentos.registry import load
from agentos.registry.permissions import PermissionIndex
from agentos.registry.policies import Policies, RateClass, Role, Scope
from agentos.registry.registry import build_registry
from agentos.registry.spec import ActionSpec, build_spec
from agentos.services.base import Principal
from tests.registry.helpers import REPO


def spec(name: str, **declared: Any) -> ActionSpec:
    """A spec for ``name`` with only what a test cares about declared."""
    payload = {
        "type": "object",
        "required": ["job_id"],
        "properties": {"job_id": {"type": "string"}},
    }
    declaration = {
        "summary": "s",
        "rate_class": "standard",
        "target": "x.y",
        "payload": payload,
        **declared,
    }
    return build_spec(name, declaration, view="V")


SPECS = {
    s.name: s
    for s in [
        spec("job.cancel", ownership={"field": "job_id", "resource": "job"}),
        spec("job.prioritize"),
        spec("system.backup"),
        spec("queue.clear", permission="queue.danger"),
    ]
}

ROLES = {
    "admin": Role("admin", allow=("*",)),
    "operator": Role(
        "operator",
        allow=("job.*", "queue.*", "system.*"),
        deny=("system.*", "queue.danger"),
    ),
    "user": Role("user", allow=("job.*",), scope=Scope.OWN),
    "auditor": Role("auditor", allow=("ssot.read",)),
}
POLICIES = Policies(ROLES, ("*",), {"standard": RateClass("standard", 50, 60)})
INDEX = PermissionIndex(POLICIES, SPECS)


@pytest.mark.parametrize(
    ("roles", "action", "allowed", "own_only"),
    [
        pytest.param(["admin"], "system.backup", True, False, id="admin-star"),
        pytest.param(["operator"], "job.prioritize", True, False, id="allow-glob"),
        pytest.param(
            ["operator"], "system.backup", False, False, id="deny-beats-allow"
        ),
        pytest.param(
            ["operator"],
            "queue.clear",
            False,
            False,
            id="deny-matches-the-permission-not-the-name",
        ),
        pytest.param(["user"], "job.cancel", True, True, id="own-scope"),
        pytest.param(
            ["user"], "job.prioritize", False, False, id="own-scope-needs-ownership"
        ),
        pytest.param(
            ["user", "operator"], "job.cancel", True, False, id="full-scope-beats-own"
        ),
        pytest.param(
            ["operator", "admin"],
            "system.backup",
            True,
            False,
            id="deny-stays-in-its-role",
        ),
        pytest.param(["ghost"], "job.cancel", False, False, id="unknown-role"),
        pytest.param([], "job.cancel", False, False, id="no-roles"),
    ],
)
def test_decisions_follow_the_documented_rules(
    roles: list[str], action: str, allowed: bool, own_only: bool
) -> None:
    """Each rule of roles.yaml, decided for one (roles, action) pair."""
    decision = INDEX.decide(roles, action)

    assert (decision.allowed, decision.own_only) == (allowed, own_only)


def test_the_index_answers_who_may_run_an_action() -> None:
    """``roles_for`` lists each granting role with its scope."""
    assert INDEX.roles_for("job.cancel") == {
        "admin": Scope.ALL,
        "operator": Scope.ALL,
        "user": Scope.OWN,
    }


def test_the_index_answers_what_a_role_may_run() -> None:
    """``actions_of`` lists each action a role grants."""
    assert list(INDEX.actions_of("operator")) == ["job.cancel", "job.prioritize"]
    assert INDEX.actions_of("auditor") == {}


def test_permissions_of_reads_use_the_same_rules() -> None:
    """``allows`` evaluates a permission that no action carries."""
    assert INDEX.allows(["auditor"], "ssot.read")
    assert not INDEX.allows(["operator"], "ssot.read")
    assert INDEX.allows(["admin"], "ssot.read")


def test_authorize_refuses_with_403_naming_the_permission() -> None:
    """The registry's authorize raises Forbidden for a role without the grant."""
    registry = build_registry(SPECS, POLICIES, "v1")
    operator = Principal(subject="u1", roles=("operator",))

    with pytest.raises(Forbidden) as caught:
        registry.authorize(operator, registry.spec("queue.clear"))

    assert "queue.danger" in caught.value.message


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param(
            "admin",
            {
                "job.cancel",
                "job.prioritize",
                "job.retry",
                "queue.clear",
                "queue.pause",
                "queue.resume",
            },
            id="admin",
        ),
        pytest.param(
            "operator",
            {
                "job.cancel",
                "job.prioritize",
                "job.retry",
                "queue.clear",
                "queue.pause",
                "queue.resume",
            },
            id="operator",
        ),
        pytest.param("supervisor", {"job.cancel", "job.retry"}, id="supervisor"),
        pytest.param("user", {"job.cancel", "job.retry"}, id="user"),
        pytest.param("readonly", set(), id="readonly"),
    ],
)
def test_the_shipped_roles_match_the_roles_table(role: str, expected: set[str]) -> None:
    """policies/roles.yaml grants the Jobs & Queue actions as ACTIONS.md says."""
    registry = load(REPO / "actions.d", REPO / "policies", None)

    assert set(registry.permissions.actions_of(role)) == expected


def test_the_shipped_user_role_is_limited_to_its_own_jobs() -> None:
    """The user role's grants carry the own-only scope."""
    registry = load(REPO / "actions.d", REPO / "policies", None)

    decision = registry.permissions.decide(["user"], "job.cancel")

    assert decision.allowed and decision.own_only
