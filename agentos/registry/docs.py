"""The Markdown catalogue of the actions, generated from the registry.

``agentos actions docs`` prints it: one section per view with a table of
its actions, then one entry per action with what it does, who may run it,
its payload as a table of fields and its examples. Generated text only
ever says what the YAML says, so it cannot drift from the running service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from agentos.registry.policies import Scope
from agentos.registry.registry import Registry
from agentos.registry.schema import Schema
from agentos.registry.spec import ActionSpec


def catalogue(registry: Registry) -> str:
    """The whole catalogue as one Markdown document."""
    views = registry.views()
    lines = [
        "# Admin actions",
        "",
        f"Generated from `actions.d/` by `agentos actions docs` (registry version "
        f"`{registry.version}`): {_count(len(registry), 'action')} in "
        f"{_count(len(views), 'view')}. "
        "Run one with `POST /api/admin/action` and the body "
        '`{"action": NAME, "payload": {...}}`.',
    ]
    for view, specs in views.items():
        lines += ["", f"## {view} ({len(specs)})", "", *_view_table(specs)]
        for spec in specs:
            lines += ["", *action_entry(registry, spec)]
    return "\n".join(lines) + "\n"


def _view_table(specs: list[ActionSpec]) -> list[str]:
    rows = ["| action | summary | rate class | mode |", "|---|---|---|---|"]
    for spec in specs:
        summary = _cell(spec.summary)
        rows.append(
            f"| `{spec.name}` | {summary} | {spec.rate_class} | {spec.mode.value} |"
        )
    return rows


def action_entry(registry: Registry, spec: ActionSpec) -> list[str]:
    """The Markdown entry of one action."""
    lines = [f"### `{spec.name}`", "", spec.summary + "."]
    if spec.description:
        lines += ["", spec.description]
    lines += ["", *_facts(registry, spec), "", *payload_table(spec.payload)]
    for example in spec.examples:
        body = {"action": spec.name, "payload": example}
        lines += ["", "```json", json.dumps(body, indent=2), "```"]
    return lines


def _facts(registry: Registry, spec: ActionSpec) -> list[str]:
    rate = registry.policies.rate_classes.get(spec.rate_class)
    limit = f" ({rate.describe()})" if rate and rate.limit else ""
    facts = [
        f"- Target `{spec.target}`, mode `{spec.mode.value}`, rate class "
        f"`{spec.rate_class}`{limit}.",
        f"- Permission `{spec.permission}`; may run it: {who_may_run(registry, spec)}.",
        f"- Audit `{spec.audit.value}`; idempotency key {spec.idempotency.value}.",
    ]
    if spec.confirm:
        facts.append("- The payload must carry `confirm: true`.")
    if spec.ownership:
        facts.append(
            f"- Own-only roles may run it on a {spec.ownership.resource} they own "
            f"(named by `{spec.ownership.field}`)."
        )
    if spec.deprecated:
        facts.append(f"- **Deprecated** since {spec.deprecated.since}{_sunset(spec)}.")
    return facts


def who_may_run(registry: Registry, spec: ActionSpec) -> str:
    """The roles that may run ``spec``, own-only ones marked."""
    roles = registry.permissions.roles_for(spec.name)
    shown = [
        f"{role} (own only)" if scope is Scope.OWN else role
        for role, scope in roles.items()
    ]
    return ", ".join(shown) or "no role"


def _sunset(spec: ActionSpec) -> str:
    assert spec.deprecated is not None
    text = f", removed on {spec.deprecated.sunset}" if spec.deprecated.sunset else ""
    if spec.deprecated.replacement:
        text += f"; use `{spec.deprecated.replacement}`"
    return text


def payload_table(payload: Schema) -> list[str]:
    """The payload's fields as a Markdown table; a sentence when it has none."""
    rows = list(_fields(payload, ""))
    if not rows:
        return ["No payload."]
    table = [
        "| field | type | required | rules | description |",
        "|---|---|---|---|---|",
    ]
    for path, node, required in rows:
        table.append(
            f"| `{path}` | {_type(node)} | {'yes' if required else 'no'} | "
            f"{_cell(rules(node))} | {_cell(node.get('description', ''))} |"
        )
    return table


def _fields(node: Schema, prefix: str) -> Iterator[tuple[str, Schema, bool]]:
    required = set(node.get("required", ()))
    for name, child in (node.get("properties") or {}).items():
        path = f"{prefix}{name}"
        yield path, child, name in required
        yield from _nested(child, path)


def _nested(node: Schema, path: str) -> Iterator[tuple[str, Schema, bool]]:
    if node.get("type") == "object":
        yield from _fields(node, f"{path}.")
    elif node.get("type") == "array" and node["items"].get("type") == "object":
        yield from _fields(node["items"], f"{path}[].")


def _type(node: Schema) -> str:
    kind = str(node["type"])
    if kind == "array":
        return f"array of {_type(node['items'])}"
    if "format" in node:
        return f"{kind} ({node['format']})"
    return kind


def rules(node: Schema) -> str:
    """The constraints of one schema node in a few words."""
    found = []
    if "const" in node:
        found.append(f"= {json.dumps(node['const'])}")
    if "enum" in node:
        found.append("one of " + ", ".join(json.dumps(v) for v in node["enum"]))
    found += _range(node, "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    found += _range(node, "minLength", "maxLength", suffix=" chars")
    found += _range(node, "minItems", "maxItems", suffix=" items")
    if "pattern" in node:
        found.append(f"matches `{node['pattern']}`")
    if "default" in node:
        found.append(f"default {json.dumps(node['default'])}")
    if node.get("x-pii"):
        found.append("personal data")
    return "; ".join(found)


def _range(
    node: Schema,
    low: str,
    high: str,
    low_x: str = "",
    high_x: str = "",
    *,
    suffix: str = "",
) -> list[str]:
    found = []
    if low in node:
        found.append(f">= {node[low]}{suffix}")
    if low_x and low_x in node:
        found.append(f"> {node[low_x]}{suffix}")
    if high in node:
        found.append(f"<= {node[high]}{suffix}")
    if high_x and high_x in node:
        found.append(f"< {node[high_x]}{suffix}")
    return found


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
