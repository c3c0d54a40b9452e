"""The payload subset of JSON Schema: closing, walking and checking schemas.

A payload is declared in a small subset of JSON Schema (``schemas/
action.schema.json`` defines it, ``docs/actions.md`` explains it). Three
things happen to a declared schema before anything uses it:

* ``close`` makes every object schema that does not say otherwise refuse
  unknown properties (``additionalProperties: false``), so a misspelt field
  is an error rather than silently ignored;
* ``with_confirm`` adds the required ``confirm: true`` property that a
  dangerous action asks for;
* ``check_own_values`` validates every ``default`` and ``examples`` entry
  against the schema it sits in, so the documentation cannot lie.

The functions here take and return plain dictionaries and never mutate
their input.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from agentos.registry.formats import FORMAT_CHECKER
from agentos.registry.problems import escape

Schema = dict[str, Any]

EMPTY_PAYLOAD: Schema = {"type": "object", "properties": {}}
CONFIRM_PROPERTY = "confirm"
_CONFIRM_SCHEMA: Schema = {
    "type": "boolean",
    "const": True,
    "description": "Must be true: this action is hard to undo.",
}


def close(schema: Schema) -> Schema:
    """A copy of ``schema`` whose objects refuse unknown properties by default."""
    closed = copy.deepcopy(schema)
    for _, node in walk(closed):
        if node.get("type") == "object":
            node.setdefault("additionalProperties", False)
    return closed


def with_confirm(payload: Schema) -> Schema:
    """A copy of the payload schema that requires ``confirm: true``."""
    confirmed = copy.deepcopy(payload)
    confirmed.setdefault("properties", {})[CONFIRM_PROPERTY] = dict(_CONFIRM_SCHEMA)
    required = [n for n in confirmed.get("required", []) if n != CONFIRM_PROPERTY]
    confirmed["required"] = [*required, CONFIRM_PROPERTY]
    return confirmed


def walk(schema: Schema, pointer: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with its pointer relative to ``schema``, parents first."""
    yield pointer, schema
    for name, child in (schema.get("properties") or {}).items():
        if isinstance(child, dict):
            yield from walk(child, f"{pointer}/properties/{escape(name)}")
    items = schema.get("items")
    if isinstance(items, dict):
        yield from walk(items, f"{pointer}/items")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from walk(extra, f"{pointer}/additionalProperties")


def pii_paths(schema: Schema) -> tuple[str, ...]:
    """Pointers into a payload (not into the schema) of ``x-pii`` values.

    ``/contact/phone`` for a property, ``/emails/*`` for the items of an
    array and ``/labels/*`` for the values of a map, so that the audit's
    scrubber can find them in a request without reading schemas.
    """
    found = []
    for schema_pointer, node in walk(schema):
        if node.get("x-pii") is True:
            found.append(_payload_pointer(schema_pointer))
    return tuple(found)


def _payload_pointer(schema_pointer: str) -> str:
    parts = schema_pointer.split("/")[1:]
    out = []
    index = 0
    while index < len(parts):
        part = parts[index]
        if part == "properties":
            out.append(parts[index + 1])
            index += 2
            continue
        out.append("*")  # items or additionalProperties
        index += 1
    return "".join("/" + part for part in out)


def validator(schema: Schema) -> Draft202012Validator:
    """A JSON Schema validator for ``schema`` that knows our formats."""
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def check_own_values(schema: Schema) -> Iterator[tuple[str, str]]:
    """``(schema pointer, message)`` for each default or example that fails.

    Also reports ``required`` names that are not properties, and a schema
    whose ``additionalProperties`` is a schema while it also lists
    ``properties`` (the generated models keep the two apart). Call it only
    on a schema that passed the meta-schema.
    """
    for pointer, node in walk(schema):
        yield from _check_values_of(pointer, node)
        yield from _check_object_shape(pointer, node)


def _check_values_of(pointer: str, node: Schema) -> Iterator[tuple[str, str]]:
    if "default" not in node and not node.get("examples"):
        return
    check = validator(node)
    if "default" in node:
        for error in check.iter_errors(node["default"]):
            yield f"{pointer}/default", f"the default {_where(error)}{error.message}"
    for index, example in enumerate(node.get("examples") or []):
        for error in check.iter_errors(example):
            where = f"{pointer}/examples/{index}"
            yield where, f"the example {_where(error)}{error.message}"


def _check_object_shape(pointer: str, node: Schema) -> Iterator[tuple[str, str]]:
    if node.get("type") != "object":
        return
    properties = node.get("properties") or {}
    for name in node.get("required") or []:
        if name not in properties:
            message = f"'{name}' is required but is not one of the properties"
            yield f"{pointer}/required", message
    if properties and isinstance(node.get("additionalProperties"), dict):
        message = (
            "a schema for additionalProperties goes only with an object that "
            "lists no properties (a map); use true, false, or drop properties"
        )
        yield f"{pointer}/additionalProperties", message


def _where(error: ValidationError) -> str:
    path = "".join(f"/{escape(str(part))}" for part in error.absolute_path)
    return f"at {path}: " if path else "is invalid: "
