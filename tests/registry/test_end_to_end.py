"""A new action is a YAML file: reload, call it, find it in the OpenAPI document.

Also checks the registry's part of the served OpenAPI document: it is valid
OpenAPI 3.0.3, its request body is a ``oneOf`` with a discriminator mapping,
and a client generated from it has one typed class per action.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from agentos.registry.models import camel
from agentos.registry.reload import reload_everywhere
from tests.fixtures.app import AppMaker, RunningApp
from tests.fixtures.jobs import register_agent
from tests.registry.helpers import REPO

ACTION_PATH = "/api/admin/action"

BUMP = """\
# Written by a test: a new action over an existing operation, no Python.
view: Jobs & Queue
actions:
  job.bump:
    summary: Send a queued job to the front of the line
    rate_class: standard
    target: jobs.prioritize
    payload:
      type: object
      required: [job_id, priority]
      properties:
        job_id: {type: string, minLength: 1, maxLength: 64}
        priority: {type: integer, const: 9}
    examples:
      - {job_id: 3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a, priority: 9}
    deprecated: {since: 2026-12-01, replacement: job.prioritize}
"""


def copied_tree(tmp_path: Path) -> dict[str, Path]:
    """Copies of the real actions and policies that a test may edit."""
    actions, policies = tmp_path / "actions.d", tmp_path / "policies"
    shutil.copytree(REPO / "actions.d", actions)
    shutil.copytree(REPO / "policies", policies)
    return {"actions_dir": actions, "policies_dir": policies}


async def openapi(api: RunningApp) -> dict[str, Any]:
    """The served OpenAPI document."""
    response = await api.client.get("/docs/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def registry_part(document: dict[str, Any]) -> dict[str, Any]:
    """The action endpoint and every component it reaches, as a whole document."""
    schemas = document["components"]["schemas"]
    operation = document["paths"][ACTION_PATH]["post"]
    wanted: set[str] = set()
    pending = _refs(operation)
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending |= _refs(schemas[name])
    return {
        "openapi": document["openapi"],
        "info": document["info"],
        "paths": {ACTION_PATH: {"post": operation}},
        "components": {"schemas": {name: schemas[name] for name in sorted(wanted)}},
    }


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


async def test_a_new_yaml_file_becomes_an_action_without_any_python(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """Write the file, reload, call the action, read its effect and its docs."""
    api = await make_app(**copied_tree(tmp_path))
    kind = (await register_agent(api.db))["kind"]
    created = await api.client.post(
        "/api/jobs/create",
        json={"kind": kind, "params": {"start_ms": 0, "end_ms": 9}},
        headers=api.auth(str(uuid.uuid4()), "user"),
    )
    job = created.json()["data"]
    before = await api.client.post(
        ACTION_PATH,
        json={"action": "job.bump", "payload": {"job_id": job["id"]}},
        headers=api.auth(),
    )

    (tmp_path / "actions.d" / "bump.yaml").write_text(BUMP)
    outcome = await reload_everywhere(api.app.ctx.registry, api.state)
    response = await api.client.post(
        ACTION_PATH,
        json={"action": "job.bump", "payload": {"job_id": job["id"], "priority": 9}},
        headers=api.auth(),
    )
    read = await api.client.get(f"/api/jobs/{job['id']}", headers=api.auth())
    document = await openapi(api)
    health = await api.client.get("/health")

    assert before.json()["error_code"] == "UNKNOWN_ACTION"
    assert outcome.changed
    assert response.status_code == 200, response.text
    assert read.json()["data"]["priority"] == 9
    schemas = document["components"]["schemas"]
    mapping = schemas["AdminActionRequest"]["discriminator"]["mapping"]
    assert mapping["job.bump"] == "#/components/schemas/JobBumpRequest"
    assert schemas["JobBumpRequest"]["deprecated"] is True
    assert schemas["JobBumpPayload"]["properties"]["priority"]["enum"] == [9]
    assert health.json()["data"]["registry_version"] == outcome.version


async def test_a_broken_edit_keeps_serving_the_old_actions(
    make_app: AppMaker, tmp_path: Path
) -> None:
    """A reload of a broken tree changes nothing the callers see."""
    dirs = copied_tree(tmp_path)
    api = await make_app(**dirs)
    version = api.app.ctx.registry.current.version
    (dirs["actions_dir"] / "bump.yaml").write_text(
        BUMP.replace("jobs.prioritize", "jobs.x")
    )

    outcome = await reload_everywhere(api.app.ctx.registry, api.state)
    response = await api.client.post(
        ACTION_PATH, json={"action": "queue.resume"}, headers=api.auth()
    )
    document = await openapi(api)

    assert not outcome.ok
    assert [p.pointer for p in outcome.problems] == ["/actions/job.bump/target"]
    assert api.app.ctx.registry.current.version == version
    assert response.status_code == 200
    assert "JobBumpRequest" not in document["components"]["schemas"]


async def test_the_registrys_part_of_the_document_is_valid_openapi(
    api: RunningApp,
) -> None:
    """The endpoint, the union and every action's components pass the validator."""
    document = await openapi(api)
    part = registry_part(document)

    validate(part)

    union = part["components"]["schemas"]["AdminActionRequest"]
    operation = part["paths"][ACTION_PATH]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AdminActionRequest"
    }
    assert len(union["oneOf"]) == len(api.app.ctx.registry.current)
    assert set(union["discriminator"]["mapping"]) == set(
        api.app.ctx.registry.current.specs
    )


async def test_a_generated_client_has_one_class_per_action(
    api: RunningApp, tmp_path: Path
) -> None:
    """openapi-python-client turns every action's request into a typed class."""
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(registry_part(await openapi(api))))
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")
    output = tmp_path / "client"

    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(source),
            "--output-path",
            str(output),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    exported = (output / "models" / "__init__.py").read_text()
    for spec in api.app.ctx.registry.current:
        assert f'"{camel(spec.name)}Request"' in exported, spec.name
        assert f'"{camel(spec.name)}Payload"' in exported, spec.name
