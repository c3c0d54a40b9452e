"""Reading JSON request bodies into validated models, with precise errors."""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import Request

from agentos.errors import BadRequest, MalformedJSON, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)

MAX_JSON_DEPTH = 64


def json_body(request: Request) -> Any:
    """The body parsed as JSON; the content type must say JSON.

    Nesting deeper than ``MAX_JSON_DEPTH`` is refused before parsing, so a
    body of 20,000 opening brackets costs one scan, not a recursion error.
    Only what every store and client can hold passes: UTF-8 text (RFC 8259),
    strings of whole characters (no lone UTF-16 surrogate), finite numbers,
    and objects that name each key once (``{"action": "a", "action": "b"}``
    would mean what the last one says to this parser and to others what the
    first one says).
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType(
            f"This endpoint reads JSON; send 'Content-Type: application/json' "
            f"(got '{content_type[:80] or 'none'}')."
        )
    raw = request.body or b""
    if not raw.strip():
        raise MalformedJSON("The request body is empty; send a JSON object.")
    _check_depth(raw)
    try:
        text = raw.decode("utf-8-sig")  # a leading BOM is ignored
    except UnicodeDecodeError as exc:
        raise MalformedJSON(
            f"The request body is not UTF-8 (byte {exc.start}); send JSON as UTF-8."
        ) from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_not_a_number,
            parse_float=_finite,
        )
    except (ValueError, RecursionError) as exc:
        raise MalformedJSON(f"The request body is not valid JSON: {exc}.") from None
    if _SURROGATE_ESCAPE.search(text) and _holds_lone_surrogate(value):
        raise MalformedJSON(
            "The request body is not valid JSON: a string holds a lone UTF-16 "
            "surrogate escape (\\ud800 to \\udfff without its pair), which is "
            "no character; send whole characters."
        )
    return value


# Python's parser takes lone surrogates (``"\\ud800"``), NaN and Infinity,
# and reads 1e400 as infinity. None is JSON a store or client can hold back:
# PostgreSQL refuses them, and the audit chain cannot encode them. They are
# refused here, before any stage keeps the value. A surrogate escape is rare,
# so the parsed value is searched only when the text has one (a pair of them
# is one character, and fine).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _holds_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(
            _holds_lone_surrogate(key) or _holds_lone_surrogate(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_holds_lone_surrogate(item) for item in value)
    return False


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(
                f"the key {key[:80]!r} appears twice in one object; send each key once"
            )
        seen.add(key)
    raise AssertionError("unreachable: a shorter dict has a repeated key")


def _not_a_number(literal: str) -> float:
    raise ValueError(f"{literal} is not a JSON number; send a finite number or null")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ValueError(
            f"{shown} is beyond the range of a double; send a smaller number, "
            "or a string"
        )
    return value


def _check_depth(raw: bytes) -> None:
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return  # cannot nest deeper than it has brackets; skip the byte scan
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise MalformedJSON(
                    f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels."
                )
        elif byte in (0x5D, 0x7D):
            depth -= 1


def parse_model(model: type[M], data: Any) -> M:
    """Validate ``data`` with ``model``; errors become a 400 with details."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(details=validation_details(exc)) from None


def read_model(request: Request, model: type[M]) -> M:
    """The JSON body validated with ``model``."""
    return parse_model(model, json_body(request))


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{"pointer", "message", "type"}`` details."""
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        pointer = "/" + "/".join(str(part) for part in error["loc"])
        details.append(
            {"pointer": pointer, "message": error["msg"], "type": error["type"]}
        )
    return details
