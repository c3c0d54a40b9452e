"""What an agent definition and the fleet settings may hold."""

from __future__ import annotations

from typing import Any

import pytest

from agentos.errors import BadRequest
from agentos.services.agent_definitions import (
    AgentConfig,
    AgentDefinition,
    FleetConfig,
    merge_patch,
    validated,
)

CUT = {"kind": "clip.cut", "params_schema": {"type": "object"}}


def _definition(**changes: Any) -> dict[str, Any]:
    return {"name": "cutter", "agent_type": "cutter", "job_kinds": [CUT], **changes}


def test_a_sound_definition_gets_default_config() -> None:
    """A definition without config is given every config default."""

    definition = validated(AgentDefinition, _definition())

    assert definition.config == AgentConfig()
    assert definition.concurrency == 1


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        pytest.param({"name": "Cutter"}, "/name", id="upper-case-name"),
        pytest.param({"name": "status"}, "/name", id="reserved-name"),
        pytest.param({"name": "a" * 64}, "/name", id="long-name"),
        pytest.param({"job_kinds": []}, "/job_kinds", id="no-kinds"),
        pytest.param({"job_kinds": [CUT, CUT]}, "/job_kinds", id="repeated-kind"),
        pytest.param({"job_kinds": [{"kind": "Cut!"}]}, "/job_kinds/0/kind",
                     id="bad-kind-name"),
        pytest.param({"job_kinds": [{"kind": "x", "params_schema": {"type": "bogus"}}]},
                     "/job_kinds/0/params_schema", id="schema-not-json-schema"),
        pytest.param({"job_kinds": [{"kind": "x", "params_schema": {"type": "array"}}]},
                     "/job_kinds/0/params_schema", id="schema-not-an-object"),
        pytest.param({"concurrency": 0}, "/concurrency", id="zero-concurrency"),
        pytest.param({"config": {"timeout_seconds": 0}}, "/config/timeout_seconds",
                     id="config-out-of-bounds"),
        pytest.param({"config": {"shell": "rm -rf /"}}, "/config/shell",
                     id="unknown-config-key"),
        pytest.param({"config": {"options": {"k": [1, 2]}}}, "/config/options/k",
                     id="option-not-scalar"),
        pytest.param({"owner": "me"}, "/owner", id="unknown-field"),
    ],
)
def test_a_bad_definition_is_refused_at_the_field_at_fault(
    changes: dict[str, Any], pointer: str
) -> None:
    """Every mistake is a 400 whose details point at the field."""

    with pytest.raises(BadRequest) as caught:
        validated(AgentDefinition, _definition(**changes))

    pointers = [detail["pointer"] for detail in caught.value.details]
    assert any(p.startswith(pointer) for p in pointers), pointers


def test_fleet_settings_need_dead_after_late() -> None:
    """A dead threshold not above the late one is refused."""

    with pytest.raises(BadRequest):
        validated(FleetConfig, {"heartbeat_late_seconds": 30,
                                "heartbeat_dead_seconds": 30})


def test_validation_pointers_start_where_the_document_sits() -> None:
    """A pointer prefix places errors inside the request body."""

    with pytest.raises(BadRequest) as caught:
        validated(FleetConfig, {"max_concurrency": 0}, "/config")

    assert caught.value.details[0]["pointer"] == "/config/max_concurrency"


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param({"a": 1}, {"b": 2}, {"a": 1, "b": 2}, id="adds"),
        pytest.param({"a": 1}, {"a": None}, {}, id="null-removes"),
        pytest.param({"a": {"x": 1, "y": 2}}, {"a": {"y": None, "z": 3}},
                     {"a": {"x": 1, "z": 3}}, id="nested"),
        pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="lists-replace"),
        pytest.param({"a": 1}, {"a": {"b": None}}, {"a": {}}, id="scalar-to-object"),
    ],
)
def test_merge_patch_follows_rfc_7386(
    target: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Merge patches add, replace and remove keys; lists are replaced whole."""

    merged = merge_patch(target, patch)

    assert merged == expected
    assert target != merged or patch == {}  # the target itself is left alone
