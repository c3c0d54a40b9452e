"""OpenAPI components from pydantic models, in the 3.0.3 dialect sanic-ext writes.

sanic-ext always declares ``openapi: 3.0.3``, while pydantic writes JSON
Schema 2020-12 (``const``, ``{"type": "null"}`` in unions, numeric
``exclusiveMinimum``, ``examples`` lists). ``openapi_schema`` rewrites a
pydantic schema into its 3.0 equivalent, and ``component`` registers a model
(and every model it refers to) under ``#/components/schemas``, so that
sanic-ext never falls back to its own type walker, which drops ``required``.

Routes describe answers in the standard envelope with ``envelope`` (one
resource), ``page_envelope`` (a list with pagination) and ``ErrorEnvelope``,
and use ``responses`` to list them for ``openapi.definition``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model
from sanic_ext.extensions.openapi import definitions
from sanic_ext.extensions.openapi.builders import SpecificationBuilder

REF_TEMPLATE = "#/components/schemas/{model}"

_ERROR_TEXT = {
    400: "The request is not valid; `details` names each field at fault.",
    401: "No valid access token.",
    403: "Your roles do not permit this request.",
    404: "No such resource, or it is not yours.",
    409: "The resource's current state does not allow this request.",
    413: "The body is larger than the configured limit.",
    415: "The body has the wrong content type.",
    507: "The server has no disk room left for this write.",
}


def openapi_schema(schema: Any) -> Any:
    """``schema`` rewritten from JSON Schema 2020-12 into OpenAPI 3.0 terms."""
    if isinstance(schema, list):
        return [openapi_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: openapi_schema(value) for key, value in schema.items()}
    converted.pop("$schema", None)

    if "const" in converted:
        converted["enum"] = [converted.pop("const")]
    if "examples" in converted and isinstance(converted["examples"], list):
        examples = converted.pop("examples")
        if examples:
            converted["example"] = examples[0]
    for bound, inclusive in (("exclusiveMinimum", "minimum"),
                             ("exclusiveMaximum", "maximum")):
        value = converted.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            converted[inclusive] = value
            converted[bound] = True
    if isinstance(converted.get("type"), list):
        _split_type_list(converted)
    for union in ("anyOf", "oneOf"):
        if union in converted:
            converted = _nullable_union(converted, union)
    return converted


def _split_type_list(schema: dict[str, Any]) -> None:
    types = [name for name in schema["type"] if name != "null"]
    if len(types) < len(schema["type"]):
        schema["nullable"] = True
    if len(types) == 1:
        schema["type"] = types[0]
    else:
        del schema["type"]
        schema["anyOf"] = [{"type": name} for name in types]


def _nullable_union(schema: dict[str, Any], union: str) -> dict[str, Any]:
    members = [m for m in schema[union] if m != {"type": "null"}]
    if len(members) == len(schema[union]):
        return schema
    rest = {key: value for key, value in schema.items() if key != union}
    rest["nullable"] = True
    if len(members) != 1:
        return {**rest, union: members}
    only = members[0]
    if "$ref" in only:
        # 3.0 ignores siblings of $ref, so the reference goes inside allOf.
        return {**rest, "allOf": [only]}
    return {**only, **rest}


def component(model: type[BaseModel]) -> type[BaseModel]:
    """Register ``model`` and the models it uses as OpenAPI components.

    Components are named by class name, so two different models of one name
    would document one of them wrongly; that mistake raises at import.
    """
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    for name, nested in schema.pop("$defs", {}).items():
        _add(name, openapi_schema(nested))
    _add(model.__name__, openapi_schema(schema))
    return model


def _add(name: str, schema: dict[str, Any]) -> None:
    spec = SpecificationBuilder()
    if not spec.has_component("schemas", name):
        spec.add_component("schemas", name, schema)
        return
    if spec._components["schemas"][name] != schema:
        raise ValueError(
            f"Two different models are named {name!r}; OpenAPI components are "
            "named by class, so rename one of them."
        )


def reference(model: type[BaseModel]) -> definitions.Reference:
    """A ``$ref`` to ``model``'s component, registering it first."""
    component(model)
    ref = REF_TEMPLATE.format(model=model.__name__)
    return definitions.Reference(ref)  # type: ignore[no-untyped-call]


class _Envelope(BaseModel):
    success: Literal[True]
    timestamp: datetime
    response_time_ms: float = Field(ge=0)
    trace_id: str


class Pagination(BaseModel):
    """Where a page of a list sits within the whole list."""

    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    total: int = Field(ge=0)
    total_pages: int = Field(ge=1)
    has_next: bool
    has_prev: bool


class ErrorEnvelope(BaseModel):
    """The answer to every request that failed."""

    success: Literal[False]
    error: str = Field(description="What went wrong, and what to do next.")
    error_code: str = Field(examples=["VALIDATION_ERROR"])
    details: list[dict[str, Any]] = Field(default_factory=list)
    timestamp: datetime
    response_time_ms: float = Field(ge=0)
    trace_id: str


def envelope(model: type[BaseModel]) -> type[BaseModel]:
    """The success envelope around one ``model``, registered as a component."""
    name = f"{model.__name__}Envelope"
    wrapped = create_model(name, __base__=_Envelope, data=(model, ...))
    wrapped.__doc__ = f"Success envelope around one {model.__name__}."
    component(model)
    return component(wrapped)


def page_envelope(model: type[BaseModel]) -> type[BaseModel]:
    """The success envelope around a page of ``model`` items."""
    name = f"{model.__name__}Page"
    wrapped = create_model(
        name, __base__=_Envelope, data=(list[model], ...),  # type: ignore[valid-type]
        pagination=(Pagination, ...),
    )
    wrapped.__doc__ = f"Success envelope around one page of {model.__name__} items."
    component(model)
    return component(wrapped)


def responses(
    ok: type[BaseModel], *errors: int, status: int = 200
) -> list[definitions.Response]:
    """The documented answers of a route: its success and the listed errors."""
    answers = [
        definitions.Response(
            {"application/json": reference(ok)}, status=status, description="Success."
        )
    ]
    for code in sorted({401, *errors}):
        answers.append(
            definitions.Response(
                {"application/json": reference(ErrorEnvelope)},
                status=code,
                description=_ERROR_TEXT.get(code, "Error."),
            )
        )
    return answers


def request_body(
    model: type[BaseModel], *, required: bool = True
) -> definitions.RequestBody:
    """A JSON request body described by ``model``, required unless told."""
    return definitions.RequestBody(
        {"application/json": reference(model)}, required=required
    )
