"""Checking a YAML file against a JSON Schema, with messages for people.

The meta-schema of an actions file ships inside the package
(``agentos/registry/action.schema.json``, read as package data, so an
installed copy loads actions too); ``schemas/action.schema.json`` is its
export for editors and clients, kept equal by a governance test. The policy
files have their schemas in ``agentos.registry.policies``. Both
are checked here, and ``jsonschema``'s errors are turned into ``Problem``
records: one per unknown key (with the keys that would be allowed), keyword
mistakes named by the schema type they do not fit, and each message ending
with what the schema's ``description`` says the value should be.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from agentos.registry.formats import FORMAT_CHECKER
from agentos.registry.problems import Problem, escape
from agentos.registry.source import SourceFile

META_SCHEMA_NAME = "action.schema.json"


def meta_schema_file() -> Traversable:
    """The meta-schema as package data: found in a checkout and an install alike."""
    return resources.files("agentos.registry").joinpath(META_SCHEMA_NAME)


@cache
def actions_validator() -> Draft202012Validator:
    """The validator of an actions file, built once per process."""
    schema = json.loads(meta_schema_file().read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def check_file(
    source: SourceFile, checker: Draft202012Validator | None = None
) -> list[Problem]:
    """Every mistake of ``source`` against the schema, in people's words."""
    checker = checker or actions_validator()
    problems = []
    for error in checker.iter_errors(source.data):
        for where, message in describe(error, source.data):
            line = source.line_of(where)
            problems.append(
                Problem(source.name, line, where, message, action_of(where))
            )
    return problems


def action_of(pointer: str) -> str | None:
    """The action a pointer into an actions file lies in, if any."""
    parts = pointer.split("/")
    if len(parts) >= 3 and parts[1] == "actions":
        return parts[2].replace("~1", "/").replace("~0", "~")
    return None


def describe(error: ValidationError, document: Any) -> list[tuple[str, str]]:
    """``(pointer, message)`` pairs that explain one ``jsonschema`` error."""
    where = _pointer(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        return _unknown_keys(error, where)
    if "dependentSchemas" in error.schema_path:
        return [_misplaced_keyword(error)]
    if "propertyNames" in error.schema_path:
        return [_bad_key(error, where)]
    if error.validator == "anyOf" and error.context:
        return describe(best_match(error.context), document)
    if error.validator == "type" and not where:
        return [(where, "the file must hold a mapping at its top level")]
    return [(where, _with_hint(error.message, error.schema))]


def _unknown_keys(error: ValidationError, where: str) -> list[tuple[str, str]]:
    known = sorted(error.schema.get("properties", {}))
    allowed = ", ".join(known) if known else "none"
    found = []
    for key in error.instance:
        if key in known:
            continue
        message = f"unknown key '{key}'; the keys allowed here are: {allowed}"
        found.append((f"{where}/{escape(str(key))}", message))
    return found


def _misplaced_keyword(error: ValidationError) -> tuple[str, str]:
    # The error sits on the schema's "type"; the keyword that asked for
    # another type is the step after "dependentSchemas" in the schema path.
    steps = list(error.schema_path)
    keyword = str(steps[steps.index("dependentSchemas") + 1])
    node = _pointer(list(error.absolute_path)[:-1])
    message = (
        f"the keyword '{keyword}' does not apply to a schema of type '{error.instance}'"
    )
    return f"{node}/{escape(keyword)}", message


def _bad_key(error: ValidationError, where: str) -> tuple[str, str]:
    key = str(error.instance)
    at = f"{where}/{escape(key)}"
    hint = error.schema.get("description") or _pattern_hint(error.schema)
    return at, f"'{key}' is not allowed as a name here{hint and ': ' + hint}"


def _pattern_hint(schema: dict[str, Any]) -> str:
    pattern = schema.get("pattern")
    return f"it must match {pattern}" if pattern else ""


def _with_hint(message: str, schema: Any) -> str:
    description = schema.get("description") if isinstance(schema, dict) else None
    return f"{message} ({description})" if description else message


def _pointer(path: Any) -> str:
    return "".join(f"/{escape(str(part))}" for part in path)
