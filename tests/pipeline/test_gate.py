"""The gate of a worker: built from the policies, and reloaded with the registry."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from agentos.pipeline.gate import reload_policies
from tests.fixtures.app import AppMaker
from tests.fixtures.policies import write_policies


def edit(path: Path, **changes: object) -> None:
    """Change top-level keys of a YAML file in place."""
    document = yaml.safe_load(path.read_text())
    document.update(changes)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


async def test_a_clean_edit_of_the_policies_applies_without_a_restart(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """After a reload the new trusted-proxy count and tiers are in force."""
    policies = write_policies(tmp_path)
    app = await make_app(policies_dir=policies)
    edit(policies / "access.yaml", trusted_proxies=1)
    tiers = yaml.safe_load((policies / "rate_limits.yaml").read_text())["tiers"]
    tiers["public"] = {"per": "ip", "limit": 2, "window_seconds": 60}
    edit(policies / "rate_limits.yaml", tiers=tiers)

    applied = reload_policies(app.app)
    answer = await app.client.get("/", headers={"X-Forwarded-For": "203.0.113.4"})

    assert applied
    assert answer.headers["RateLimit-Policy"] == '"public";q=2;w=60'
    assert app.app.ctx.access_policy.trusted_proxies == 1


async def test_a_broken_edit_leaves_the_old_policies_serving(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """A policy file that does not load is reported; nothing changes."""
    policies = write_policies(tmp_path)
    app = await make_app(policies_dir=policies)
    edit(policies / "access.yaml", trusted_proxies="many")

    applied = reload_policies(app.app)
    answer = await app.client.get("/")

    assert not applied
    assert app.app.ctx.access_policy.trusted_proxies == 0
    assert answer.headers["RateLimit-Policy"] == '"public";q=12;w=60'


async def test_an_edit_of_access_yaml_alone_is_in_force_after_a_registry_reload(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """Only access.yaml changes; the registry's reload still applies the allowlist."""
    policies = write_policies(tmp_path)
    app = await make_app(policies_dir=policies)
    admin = app.auth("ops", "admin")
    before = await app.client.get("/api/admin/ssot", headers=admin)
    edit(policies / "access.yaml", admin_allowlist=["10.0.0.0/8"])

    outcome = await app.app.ctx.registry.reload_async()
    after = await app.client.get("/api/admin/ssot", headers=admin)

    assert before.status_code == 200
    assert outcome.changed
    assert (after.status_code, after.json()["error_code"]) == (403, "IP_NOT_ALLOWED")


async def test_a_broken_access_yaml_keeps_the_old_allowlist_after_a_reload(
    make_app: AppMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The registry reloads, the broken access.yaml is logged and not applied."""
    policies = write_policies(tmp_path)
    app = await make_app(policies_dir=policies)
    admin = app.auth("ops", "admin")
    edit(policies / "access.yaml", admin_allowlist=["not-a-network"])

    with caplog.at_level(logging.ERROR, logger="agentos.auth"):
        outcome = await app.app.ctx.registry.reload_async()
    answer = await app.client.get("/api/admin/ssot", headers=admin)

    assert outcome.ok
    assert answer.status_code == 200
    [record] = [r for r in caplog.records if r.getMessage() == "policies.reload_failed"]
    assert "not-a-network" in record.fields["report"]  # type: ignore[attr-defined]
