"""Translating the payload subset into OpenAPI 3.0.3, and the union's shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentos.registry import load
from agentos.registry.openapi import components, to_openapi
from tests.registry.helpers import CLASSES, GADGET_ACTIONS, actions_tree


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(
            {"type": "boolean", "const": True},
            {"type": "boolean", "enum": [True]},
            id="const",
        ),
        pytest.param(
            {"type": "integer", "exclusiveMinimum": 0},
            {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
            id="exclusive-minimum",
        ),
        pytest.param(
            {"type": "number", "minimum": 5, "exclusiveMinimum": 1},
            {"type": "number", "minimum": 5},
            id="looser-exclusive-dropped",
        ),
        pytest.param(
            {"type": "number", "maximum": 5, "exclusiveMaximum": 1},
            {"type": "number", "maximum": 1, "exclusiveMaximum": True},
            id="tighter-exclusive-wins",
        ),
        pytest.param(
            {"type": "string", "examples": ["a", "b"]},
            {"type": "string", "example": "a"},
            id="examples",
        ),
        pytest.param(
            {"type": "array", "items": {"type": "string", "const": "x"}},
            {"type": "array", "items": {"type": "string", "enum": ["x"]}},
            id="nested-items",
        ),
        pytest.param(
            {
                "type": "object",
                "additionalProperties": {"type": "integer", "exclusiveMaximum": 3},
            },
            {
                "type": "object",
                "additionalProperties": {
                    "type": "integer",
                    "maximum": 3,
                    "exclusiveMaximum": True,
                },
            },
            id="map-values",
        ),
    ],
)
def test_json_schema_keywords_become_their_openapi_3_0_twins(
    schema: dict[str, object], expected: dict[str, object]
) -> None:
    """Each 2020-12 keyword that 3.0.3 spells differently is rewritten."""
    assert to_openapi(schema) == expected


def test_each_action_gets_named_components_and_the_union_maps_them(
    tmp_path: Path,
) -> None:
    """Payload and request per action; the union's mapping covers every action."""
    actions, policies = actions_tree(tmp_path, {"gadgets.yaml": GADGET_ACTIONS})
    registry = load(actions, policies, CLASSES)

    found = components(registry)

    assert {"GadgetTunePayload", "GadgetTuneRequest", "GadgetWipeRequest"} <= set(found)
    assert found["AdminActionRequest"]["discriminator"]["mapping"] == {
        "gadget.tune": "#/components/schemas/GadgetTuneRequest",
        "gadget.wipe": "#/components/schemas/GadgetWipeRequest",
    }
    tune = found["GadgetTuneRequest"]
    assert tune["required"] == ["action", "payload"]
    assert tune["example"] == {
        "action": "gadget.tune",
        "payload": {"gadget_id": "g1", "level": 3},
    }
    assert found["GadgetTunePayload"]["properties"]["note"]["x-pii"] is True
    assert found["GadgetWipeRequest"]["required"] == ["action", "payload"]
