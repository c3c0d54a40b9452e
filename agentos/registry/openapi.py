"""The registry in the OpenAPI document: one component per action, one union.

sanic-ext writes OpenAPI 3.0.3, and the payload subset is JSON Schema
2020-12, so each schema is translated rather than copied: ``const`` becomes
a one-value ``enum``, a numeric ``exclusiveMinimum`` becomes ``minimum``
with ``exclusiveMinimum: true``, ``examples`` becomes ``example``.

For each action ``job.cancel`` the document gets ``JobCancelPayload``,
``JobCancelRequest`` (``{"action": "job.cancel", "payload": ...}`` with the
action's summary, description, example and deprecation) and, when a result
is declared, ``JobCancelResult``. ``AdminActionRequest`` is the ``oneOf``
over every request with a ``discriminator`` mapping on ``action``: the
request body of ``POST /api/admin/action``. A client generator turns that
into one typed class per action.

The components go straight into sanic-ext's ``SpecificationBuilder`` (its
model walker would flatten the union) and are replaced on every reload.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sanic_ext.extensions.openapi.builders import SpecificationBuilder

from agentos.registry.models import camel
from agentos.registry.registry import Registry
from agentos.registry.schema import Schema
from agentos.registry.spec import ActionSpec

UNION = "AdminActionRequest"
REF = "#/components/schemas/{}"

_RECURSIVE = ("items", "additionalProperties")
_NUMERIC_EXCLUSIVE = {"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}


def ref(name: str) -> dict[str, str]:
    """A ``$ref`` to the component schema ``name``."""
    return {"$ref": REF.format(name)}


def to_openapi(schema: Schema) -> Schema:
    """``schema`` (payload subset) as an OpenAPI 3.0.3 Schema Object."""
    out: Schema = {}
    for key, value in schema.items():
        if key == "const":
            out["enum"] = [value]
        elif key == "examples":
            if value:
                out["example"] = value[0]
        elif key in _NUMERIC_EXCLUSIVE:
            continue  # handled below, together with its inclusive twin
        elif key == "properties":
            out[key] = {name: to_openapi(child) for name, child in value.items()}
        elif key in _RECURSIVE and isinstance(value, dict):
            out[key] = to_openapi(value)
        else:
            out[key] = value
    _exclusive_bounds(schema, out)
    return out


def _exclusive_bounds(schema: Schema, out: Schema) -> None:
    for exclusive, inclusive in _NUMERIC_EXCLUSIVE.items():
        if exclusive not in schema:
            continue
        bound = schema[exclusive]
        lower = exclusive == "exclusiveMinimum"
        current = schema.get(inclusive)
        tighter = current is None or (bound >= current if lower else bound <= current)
        if tighter:
            out[inclusive] = bound
            out[exclusive] = True


def components(registry: Registry) -> dict[str, Schema]:
    """Every component schema the registry contributes, by name."""
    found: dict[str, Schema] = {}
    for spec in registry:
        found.update(_action_components(spec))
    found[UNION] = _union(registry)
    return found


def _action_components(spec: ActionSpec) -> dict[str, Schema]:
    base = camel(spec.name)
    payload = to_openapi(spec.payload)
    payload["title"] = f"{base}Payload"
    request: Schema = {
        "title": f"{base}Request",
        "type": "object",
        "description": _description(spec),
        "required": ["action", "payload"]
        if spec.payload.get("required")
        else ["action"],
        "properties": {
            "action": {"type": "string", "enum": [spec.name]},
            "payload": ref(f"{base}Payload"),
        },
        "additionalProperties": False,
        "x-rate-class": spec.rate_class,
        "x-permission": spec.permission,
    }
    if spec.examples:
        request["example"] = {"action": spec.name, "payload": spec.examples[0]}
    if spec.deprecated:
        request["deprecated"] = True
    found = {f"{base}Payload": payload, f"{base}Request": request}
    if spec.result is not None:
        found[f"{base}Result"] = {**to_openapi(spec.result), "title": f"{base}Result"}
    return found


def _description(spec: ActionSpec) -> str:
    parts = [spec.summary]
    if spec.description:
        parts.append(spec.description)
    facts = f"Rate class `{spec.rate_class}`, mode `{spec.mode.value}`"
    if spec.confirm:
        facts += ", requires `confirm: true`"
    parts.append(facts + ".")
    if spec.deprecated:
        gone = (
            f", removed on {spec.deprecated.sunset}" if spec.deprecated.sunset else ""
        )
        use = (
            f"; use `{spec.deprecated.replacement}`"
            if spec.deprecated.replacement
            else ""
        )
        parts.append(f"Deprecated since {spec.deprecated.since}{gone}{use}.")
    return "\n\n".join(parts)


def _union(registry: Registry) -> Schema:
    if not len(registry):
        return {"type": "object", "description": "No actions are declared."}
    refs = {spec.name: REF.format(f"{camel(spec.name)}Request") for spec in registry}
    return {
        "title": UNION,
        "description": "An admin action and its payload; `action` picks the schema.",
        "oneOf": [{"$ref": target} for target in refs.values()],
        "discriminator": {"propertyName": "action", "mapping": refs},
    }


class OpenAPIComponents:
    """Keeps sanic-ext's component schemas in step with the current registry.

    sanic-ext offers no way to remove a component, so the names added last
    time are taken out of the builder's table by hand before the new set goes
    in; otherwise a removed action would linger in the document. The builder
    is one per process, so the record of what was added is too: an app built
    after another (in tests) replaces the earlier app's actions.
    """

    _added: ClassVar[set[str]] = set()

    def __call__(self, registry: Registry) -> None:
        """Replace the registry's components with those of ``registry``."""
        builder = SpecificationBuilder()
        table = builder._components["schemas"]
        for name in OpenAPIComponents._added:
            table.pop(name, None)
        fresh = components(registry)
        for name, schema in fresh.items():
            builder.add_component("schemas", name, schema)
        OpenAPIComponents._added = set(fresh)


def request_body() -> dict[str, Any]:
    """The request body content of ``POST /api/admin/action``."""
    return {"application/json": {"schema": ref(UNION)}}
