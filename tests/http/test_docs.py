"""OpenAPI components from pydantic models, rewritten into the 3.0 dialect."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field
from sanic_ext.extensions.openapi.builders import SpecificationBuilder

from agentos.http.docs import component, envelope, openapi_schema, page_envelope


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param({"const": "a", "type": "string"},
                     {"enum": ["a"], "type": "string"}, id="const-becomes-enum"),
        pytest.param({"anyOf": [{"type": "string"}, {"type": "null"}]},
                     {"type": "string", "nullable": True}, id="nullable-scalar"),
        pytest.param({"anyOf": [{"$ref": "#/x"}, {"type": "null"}], "default": None},
                     {"allOf": [{"$ref": "#/x"}], "nullable": True, "default": None},
                     id="nullable-reference-goes-in-allOf"),
        pytest.param({"anyOf": [{"type": "string"}, {"type": "integer"},
                                {"type": "null"}]},
                     {"anyOf": [{"type": "string"}, {"type": "integer"}],
                      "nullable": True}, id="nullable-union-keeps-its-members"),
        pytest.param({"type": ["string", "null"]},
                     {"type": "string", "nullable": True}, id="type-list"),
        pytest.param({"type": "integer", "exclusiveMinimum": 0},
                     {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
                     id="numeric-exclusive-bound"),
        pytest.param({"examples": [3, 4]}, {"example": 3}, id="examples-list"),
        pytest.param({"properties": {"a": {"const": 1}}},
                     {"properties": {"a": {"enum": [1]}}}, id="nested"),
    ],
)
def test_json_schema_is_rewritten_into_openapi_3_0(
    given: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Each 2020-12 construct that 3.0.3 lacks becomes its 3.0 equivalent."""

    assert openapi_schema(given) == expected


class DocsSample(BaseModel):
    """A model with the constructs that need rewriting."""

    id: str
    kind: Literal["sample"]
    seen_at: datetime | None = None
    count: int = Field(gt=0)


def _schemas() -> dict[str, Any]:
    return SpecificationBuilder()._components["schemas"]


def test_envelope_registers_the_model_and_its_wrapper() -> None:
    """``envelope`` documents the model and the success envelope around it."""

    wrapped = envelope(DocsSample)

    schemas = _schemas()
    assert wrapped.__name__ == "DocsSampleEnvelope"
    assert schemas["DocsSampleEnvelope"]["properties"]["data"] == {
        "$ref": "#/components/schemas/DocsSample"
    }
    assert schemas["DocsSample"]["required"] == ["id", "kind", "count"]
    assert schemas["DocsSample"]["properties"]["kind"]["enum"] == ["sample"]
    assert schemas["DocsSample"]["properties"]["seen_at"]["nullable"] is True


def test_page_envelope_documents_items_and_pagination() -> None:
    """A page envelope holds a list of the model and the pagination block."""

    page_envelope(DocsSample)

    page = _schemas()["DocsSamplePage"]
    assert page["properties"]["data"]["items"] == {
        "$ref": "#/components/schemas/DocsSample"
    }
    assert "pagination" in page["required"]


def test_two_different_models_of_one_name_are_refused() -> None:
    """A second, different model under a registered name raises at once."""
    component(DocsSample)

    class DocsSample2(BaseModel):
        other: int

    DocsSample2.__name__ = "DocsSample"

    with pytest.raises(ValueError, match="named 'DocsSample'"):
        component(DocsSample2)
