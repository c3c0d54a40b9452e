"""Authorization: the address, the roles and, for own-only roles, ownership."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentos.config import Settings
from agentos.errors import BadRequest, ConfigError, Forbidden, IPNotAllowed, NotFound
from agentos.pipeline.access_policy import (
    AccessPolicy,
    load_access_policy,
    parse_access_policy,
)
from agentos.pipeline.authz import authorize, check_address, decide
from agentos.registry import Registry, load_registry
from agentos.services.base import Principal
from agentos.services.catalog import load_all
from tests.fixtures.app import AppMaker
from tests.fixtures.jobs import Stores, make_job, register_agent, user_ctx
from tests.fixtures.policies import write_policies

REPO = Path(__file__).resolve().parents[2]
LOCAL = "127.0.0.1"


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The shipped actions and policies."""
    settings = Settings(actions_dir=REPO / "actions.d", policies_dir=REPO / "policies")
    return load_registry(settings, load_all()).current


@pytest.fixture(scope="module")
def access() -> AccessPolicy:
    """The shipped access policy."""
    return load_access_policy(REPO / "policies")


def who(*roles: str, subject: str = "someone") -> Principal:
    """A caller holding ``roles``."""
    return Principal(subject=subject, roles=roles)


@pytest.mark.parametrize(
    ("roles", "action", "allowed", "own_only"),
    [
        pytest.param(("admin",), "queue.clear", True, False, id="admin-anything"),
        pytest.param(("operator",), "queue.pause", True, False, id="operator-queue"),
        pytest.param(("supervisor",), "job.retry", True, False, id="supervisor-retry"),
        pytest.param(
            ("supervisor",), "queue.clear", False, False, id="supervisor-no-clear"
        ),
        pytest.param(("readonly",), "job.cancel", False, False, id="readonly-nothing"),
        pytest.param(("user",), "job.cancel", True, True, id="user-own-cancel"),
        pytest.param(
            ("user",), "job.prioritize", False, False, id="user-no-prioritize"
        ),
        pytest.param(
            ("user", "operator"), "job.cancel", True, False, id="widest-grant-wins"
        ),
        pytest.param(("intruder",), "job.cancel", False, False, id="unknown-role"),
        pytest.param((), "job.cancel", False, False, id="no-role"),
    ],
)
def test_roles_grant_what_roles_yaml_says(
    registry: Registry,
    access: AccessPolicy,
    roles: tuple[str, ...],
    action: str,
    allowed: bool,
    own_only: bool,
) -> None:
    """The decision follows the permission index, scope included."""

    decision = decide(
        registry.permissions, registry.spec(action), who(*roles), LOCAL, access
    )

    assert (decision.allowed, decision.own_only) == (allowed, own_only)


def test_a_refusal_by_role_is_403_naming_the_permission(
    registry: Registry, access: AccessPolicy
) -> None:
    """The error says which permission was missing; the rule says why."""
    decision = decide(
        registry.permissions,
        registry.spec("queue.clear"),
        who("supervisor"),
        LOCAL,
        access,
    )

    with pytest.raises(Forbidden) as caught:
        decision.raise_if_denied()

    assert caught.value.error_code == "FORBIDDEN"
    assert "queue.clear" in caught.value.message
    assert decision.rule == "roles: no role of [supervisor] grants queue.clear"


def test_an_allowed_decision_names_the_granting_role(
    registry: Registry, access: AccessPolicy
) -> None:
    """The audit learns which role's grant let the call through."""

    decision = decide(
        registry.permissions,
        registry.spec("queue.pause"),
        who("readonly", "operator"),
        LOCAL,
        access,
    )

    assert decision.role == "operator"
    assert decision.rule == "roles: operator grants queue.pause on all resources"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        pytest.param("127.0.0.1", True, id="loopback"),
        pytest.param("10.20.30.40", True, id="private-v4"),
        pytest.param("::1", True, id="loopback-v6"),
        pytest.param("fd00::7", True, id="ula-v6"),
        pytest.param("203.0.113.9", False, id="public-v4"),
        pytest.param("2001:db8::1", False, id="public-v6"),
        pytest.param("unknown", False, id="no-address"),
    ],
)
def test_the_admin_allowlist_holds_v4_and_v6_networks(
    access: AccessPolicy, address: str, allowed: bool
) -> None:
    """Addresses outside every allowlisted network are refused."""

    assert check_address(access, address).allowed is allowed


def test_an_address_outside_the_allowlist_is_403_ip_not_allowed_even_for_admin(
    registry: Registry, access: AccessPolicy
) -> None:
    """The address is checked before the roles."""
    decision = decide(
        registry.permissions,
        registry.spec("job.cancel"),
        who("admin"),
        "203.0.113.9",
        access,
    )

    with pytest.raises(IPNotAllowed):
        decision.raise_if_denied()
    assert decision.rule == "access.admin_allowlist"


def test_a_per_action_rule_narrows_the_allowlist_for_matching_actions(
    registry: Registry,
) -> None:
    """queue.* only from 10.9.0.0/16: queue.clear refused, job.cancel not."""
    access = parse_access_policy(
        {
            "admin_allowlist": ["127.0.0.0/8", "10.0.0.0/8"],
            "action_ip_rules": {"queue.*": ["10.9.0.0/16"]},
        }
    )
    index = registry.permissions

    queue = decide(index, registry.spec("queue.clear"), who("admin"), LOCAL, access)
    job = decide(index, registry.spec("job.cancel"), who("admin"), LOCAL, access)
    inside = decide(
        index, registry.spec("queue.clear"), who("admin"), "10.9.1.1", access
    )

    assert (queue.allowed, queue.rule) == (False, "access.action_ip_rules[queue.*]")
    assert isinstance(queue.error, IPNotAllowed)
    assert job.allowed and inside.allowed


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"admin_allowlist": ["10.0.0.1/8"]}, id="host-bits-set"),
        pytest.param({"admin_allowlist": ["not-a-network"]}, id="garbage"),
        pytest.param({"admin_allowlist": "10.0.0.0/8"}, id="not-a-list"),
        pytest.param({}, id="allowlist-missing"),
        pytest.param(
            {"admin_allowlist": [], "trusted_proxies": -1}, id="negative-proxies"
        ),
        pytest.param(
            {"admin_allowlist": [], "lockout": {"max_failures": 0}}, id="no-failures"
        ),
        pytest.param({"admin_allowlist": [], "allowlist": []}, id="unknown-key"),
    ],
)
def test_a_broken_access_policy_is_refused(document: dict[str, Any]) -> None:
    """access.yaml mistakes stop the start with a report."""
    with pytest.raises(ConfigError, match="has mistakes"):
        parse_access_policy(document)


# -- ownership ---------------------------------------------------------------


async def test_an_own_only_caller_may_act_on_its_own_job(
    registry: Registry, access: AccessPolicy, stores: Stores
) -> None:
    """The jobs service says the job is the caller's: allowed, own-only."""
    agent = await register_agent(stores.db)
    owner = user_ctx()
    job = await make_job(stores.services, owner, kind=agent["kind"])

    decision = await authorize(
        registry.permissions,
        registry.spec("job.cancel"),
        owner.principal,
        {"job_id": job["id"]},
        LOCAL,
        access=access,
        services=stores.services,
    )

    assert decision.allowed and decision.own_only
    assert decision.rule.endswith("ownership: job is the caller's")


@pytest.mark.parametrize(
    "whose",
    [pytest.param("another", id="other-users-job"), pytest.param("none", id="no-job")],
)
async def test_another_users_job_is_404_like_a_missing_one(
    registry: Registry, access: AccessPolicy, stores: Stores, whose: str
) -> None:
    """Existence does not leak: someone else's job and no job answer alike."""
    agent = await register_agent(stores.db)
    job = await make_job(stores.services, user_ctx(), kind=agent["kind"])
    job_id = job["id"] if whose == "another" else "3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a"

    decision = await authorize(
        registry.permissions,
        registry.spec("job.retry"),
        user_ctx().principal,
        {"job_id": job_id},
        LOCAL,
        access=access,
        services=stores.services,
    )

    assert isinstance(decision.error, NotFound)
    assert decision.error.message == "No job with this id is visible to you."
    assert decision.rule.startswith("ownership: job ")


async def test_an_own_only_call_without_the_resource_field_is_400(
    registry: Registry, access: AccessPolicy, stores: Stores
) -> None:
    """Nothing to check ownership of: the payload must name the job."""

    decision = await authorize(
        registry.permissions,
        registry.spec("job.cancel"),
        user_ctx().principal,
        {"reason": "no id"},
        LOCAL,
        access=access,
        services=stores.services,
    )

    assert isinstance(decision.error, BadRequest)
    assert decision.error.details == [
        {"pointer": "/payload/job_id", "message": "is required"}
    ]


async def test_staff_skip_the_ownership_lookup(
    registry: Registry, access: AccessPolicy
) -> None:
    """A grant over all resources needs no owner: no service is asked."""

    decision = await authorize(
        registry.permissions,
        registry.spec("job.cancel"),
        who("operator"),
        {"job_id": "anything"},
        LOCAL,
        access=access,
        services={},
    )

    assert decision.allowed and not decision.own_only


# -- admin reads over HTTP ---------------------------------------------------


async def test_admin_reads_from_outside_the_allowlist_are_403(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """The SSOT answers only allowlisted addresses; the user API is not affected."""
    policies = write_policies(
        tmp_path, access={"admin_allowlist": ["10.0.0.0/8"], "trusted_proxies": 1}
    )
    app = await make_app(policies_dir=policies)
    admin = app.auth("ops", "admin")

    outside = await app.client.get(
        "/api/admin/ssot", headers={**admin, "X-Forwarded-For": "203.0.113.9"}
    )
    inside = await app.client.get(
        "/api/admin/ssot", headers={**admin, "X-Forwarded-For": "10.1.2.3"}
    )
    public = await app.client.get("/", headers={"X-Forwarded-For": "203.0.113.9"})

    assert (outside.status_code, outside.json()["error_code"]) == (
        403,
        "IP_NOT_ALLOWED",
    )
    assert inside.status_code == 200
    assert public.status_code == 200
