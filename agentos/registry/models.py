"""Pydantic models generated from payload schemas, and the union of them all.

Each action gets a payload model (unknown fields refused unless declared
otherwise) and a request model ``{"action": <its name>, "payload": ...}``;
one discriminated union over the request models, discriminator ``action``,
validates every request in constant time however many actions there are.

The models must accept exactly what the declared JSON Schema accepts (a
property test holds them to it), so they follow JSON's rules, not Python's:

* strict types: ``"5"`` is not an integer and ``1`` is not a boolean;
  ``5.0`` is an integer, as JSON Schema says, and reaches the target as 5;
* ``pattern`` searches anywhere in the string, as JSON Schema does;
* formats, ``enum`` and ``const`` use the same checks as the validator.

An optional property without a declared default is left out of the
arguments when the request leaves it out, so the target's own default
applies; a declared default is passed on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Union

import annotated_types as at
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

from agentos.registry.formats import FORMATS
from agentos.registry.problems import escape
from agentos.registry.schema import CONFIRM_PROPERTY, Schema
from agentos.registry.spec import ActionSpec


class _Omitted:
    """The default of an optional property that has no declared default."""

    def __repr__(self) -> str:
        return "<omitted>"

    def __copy__(self) -> _Omitted:
        return self

    def __deepcopy__(self, memo: object) -> _Omitted:
        return self


OMITTED = _Omitted()


def camel(name: str) -> str:
    """``system.backup.verify`` -> ``SystemBackupVerify``."""
    words = re.split(r"[._\-]+", name)
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def _config(extra: Literal["forbid", "allow"]) -> ConfigDict:
    return ConfigDict(extra=extra, strict=True, allow_inf_nan=False)


# --- one schema node -> one annotation ---------------------------------


def annotation(node: Schema, name: str) -> Any:
    """The type that validates what ``node`` accepts; ``name`` names models."""
    kind = node["type"]
    base = _BUILDERS[kind](node, name)
    checks = _value_checks(node)
    return Annotated[base, *checks] if checks else base


def _string(node: Schema, name: str) -> Any:
    meta: list[Any] = [Strict(), *_lengths(node, "minLength", "maxLength")]
    if "pattern" in node:
        meta.append(AfterValidator(_search(node["pattern"])))
    if "format" in node:
        meta.append(AfterValidator(_format(node["format"])))
    return Annotated[str, *meta]


def _integer(node: Schema, name: str) -> Any:
    return Annotated[int, BeforeValidator(_integral_float), Strict(), *_bounds(node)]


def _number(node: Schema, name: str) -> Any:
    return Annotated[float, Strict(), *_bounds(node)]


def _boolean(node: Schema, name: str) -> Any:
    return Annotated[bool, Strict()]


def _array(node: Schema, name: str) -> Any:
    item = annotation(node["items"], f"{name}Item")
    bounds = _lengths(node, "minItems", "maxItems")
    return Annotated[list[item], Strict(), *bounds]  # type: ignore[valid-type]


def _object(node: Schema, name: str) -> Any:
    extra = node.get("additionalProperties", False)
    if node.get("properties") or extra is False:
        return object_model(node, name)
    if extra is True:
        return Annotated[dict[str, Any], Strict()]
    value = annotation(extra, f"{name}Value")
    return Annotated[dict[str, value], Strict()]  # type: ignore[valid-type]


_BUILDERS: dict[str, Callable[[Schema, str], Any]] = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "array": _array,
    "object": _object,
}


def object_model(node: Schema, name: str) -> type[BaseModel]:
    """A model with one field per property; field names are aliases-safe."""
    required = set(node.get("required", ()))
    fields: dict[str, Any] = {}
    for index, (prop, child) in enumerate((node.get("properties") or {}).items()):
        kind = annotation(child, f"{name}{camel(prop)}")
        if prop in required:
            fields[f"f{index}"] = (kind, Field(alias=prop))
        else:
            default = child.get("default", OMITTED)
            fields[f"f{index}"] = (kind, Field(default=default, alias=prop))
    extra: Literal["forbid", "allow"] = (
        "allow" if node.get("additionalProperties") is True else "forbid"
    )
    return create_model(name, __config__=_config(extra), **fields)


# --- the checks themselves ----------------------------------------------


def _lengths(node: Schema, low: str, high: str) -> list[Any]:
    found: list[Any] = []
    if low in node:
        found.append(at.MinLen(node[low]))
    if high in node:
        found.append(at.MaxLen(node[high]))
    return found


def _bounds(node: Schema) -> list[Any]:
    kinds = {
        "minimum": at.Ge,
        "maximum": at.Le,
        "exclusiveMinimum": at.Gt,
        "exclusiveMaximum": at.Lt,
    }
    return [bound(node[key]) for key, bound in kinds.items() if key in node]


def _integral_float(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _search(pattern: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.search(value) is None:
            raise PydanticCustomError(
                "pattern_mismatch", "must match {pattern}", {"pattern": pattern}
            )
        return value

    return check


def _format(name: str) -> Callable[[str], str]:
    conforms = FORMATS[name]

    def check(value: str) -> str:
        if not conforms(value):
            raise PydanticCustomError(
                "format", "must be a valid {format}", {"format": name}
            )
        return value

    return check


def _value_checks(node: Schema) -> list[Any]:
    if "const" in node:
        return [AfterValidator(_one_of([node["const"]]))]
    if "enum" in node:
        return [AfterValidator(_one_of(node["enum"]))]
    return []


def _one_of(values: Sequence[Any]) -> Callable[[Any], Any]:
    # enum and const apply to scalars only (the meta-schema says so), so
    # membership is one set lookup of a value tagged with its JSON type.
    allowed = frozenset(_tagged(value) for value in values)
    shown = ", ".join(json.dumps(v) for v in values)

    def check(value: Any) -> Any:
        if _tagged(value) not in allowed:
            raise PydanticCustomError(
                "enum", "must be one of: {allowed}", {"allowed": shown}
            )
        return value

    return check


def _tagged(value: Any) -> tuple[str, Any]:
    """``value`` with its JSON type, so that ``True`` and ``1`` differ."""
    if isinstance(value, bool):
        return "boolean", value
    if isinstance(value, int | float):
        return "number", value  # 1 and 1.0 are one number, and hash alike
    return type(value).__name__, value


def to_plain(value: Any) -> Any:
    """A validated value as plain JSON data; omitted properties left out."""
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        plain = {
            fields[name].alias or name: to_plain(item)
            for name, item in value.__dict__.items()
            if item is not OMITTED
        }
        plain.update(value.__pydantic_extra__ or {})
        return plain
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    return value


# --- per action, and the union ------------------------------------------


def request_model(spec: ActionSpec) -> type[BaseModel]:
    """``{"action": spec.name, "payload": <payload model>}``, nothing else."""
    base = camel(spec.name)
    payload = object_model(spec.payload, f"{base}Payload")
    if spec.payload.get("required"):
        payload_field: Any = (payload, ...)
    else:  # an action without required properties may leave payload out
        payload_field = (
            payload,
            Field(default_factory=lambda: payload.model_validate({})),
        )
    tag: Any = Literal[spec.name]  # a literal made at run time
    return create_model(
        f"{base}Request",
        __config__=_config("forbid"),
        action=(tag, ...),
        payload=payload_field,
    )


def union_of(models: Sequence[type[BaseModel]]) -> TypeAdapter[Any] | None:
    """One validator for every request model, picked by ``action``."""
    if not models:
        return None
    if len(models) == 1:
        return TypeAdapter(models[0])
    members: Any = Union[tuple(models)]  # noqa: UP007  (a union made at run time)
    return TypeAdapter(Annotated[members, Field(discriminator="action")])


def arguments(request: BaseModel, confirm: bool) -> dict[str, Any]:
    """The keyword arguments of the target: the payload less ``confirm``."""
    plain: dict[str, Any] = to_plain(request.payload)  # type: ignore[attr-defined]
    if confirm:
        plain.pop(CONFIRM_PROPERTY, None)
    return plain


def error_details(exc: ValidationError, action: str) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{"pointer", "message", "type"}`` details.

    The union puts the action's name first in every location; it is not a
    place in the request, so it is dropped.
    """
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        location = list(error["loc"])
        if location and location[0] == action:
            location = location[1:]
        where = "".join(f"/{escape(str(part))}" for part in location)
        details.append(
            {"pointer": where or "/", "message": error["msg"], "type": error["type"]}
        )
    return details
