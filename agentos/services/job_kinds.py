"""Job kinds: which agent type takes a kind, and whether params fit its schema.

Agents declare the kinds they take in ``agents.job_kinds``, each with a JSON
Schema (2020-12) for its params. A new job's kind is looked up there, and
the job goes to the agent type of the first agent, by type and then name,
that declares it; agents of different types declaring one kind are a setup
the agents service should refuse, and this order keeps the choice stable
if it happens anyway.

Compiled validators are cached by the schema's text, so a kind's schema is
checked and compiled once per process, and a changed declaration is
picked up at once because its text differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agentos.errors import BadRequest, Conflict
from agentos.store.base import Executor

MAX_PARAM_ERRORS = 20
MAX_KINDS_LISTED = 50


@dataclass(frozen=True)
class KindSpec:
    """A job kind as an agent declares it."""

    kind: str
    agent: str
    agent_type: str
    params_schema: dict[str, Any]


async def find_kind(db: Executor, kind: str) -> KindSpec:
    """The declaration of ``kind``; a 400 listing the known kinds if none."""
    rows = await db.fetch(
        "SELECT name, agent_type, job_kinds FROM agents ORDER BY agent_type, name"
    )
    known: set[str] = set()
    for row in rows:
        for entry in row["job_kinds"] or []:
            if not isinstance(entry, dict):
                continue
            if entry.get("kind") == kind:
                schema = entry.get("params_schema") or {"type": "object"}
                return KindSpec(kind, row["name"], row["agent_type"], schema)
            known.add(str(entry.get("kind")))

    listed = ", ".join(sorted(known)[:MAX_KINDS_LISTED]) or "none (no agents)"
    raise BadRequest(
        f"No agent takes jobs of kind '{kind[:64]}'; known kinds: {listed}.",
        details=[{"pointer": "/kind", "message": "unknown job kind"}],
    )


def validate_params(spec: KindSpec, params: dict[str, Any]) -> None:
    """Raise 400 with a detail per fault unless ``params`` fit the kind's schema.

    A schema that is itself invalid is the agent's fault, not the caller's:
    that is a 409 asking an operator to correct the agent.
    """
    try:
        validator = _validator(json.dumps(spec.params_schema, sort_keys=True))
    except SchemaError:
        raise Conflict(
            f"Agent '{spec.agent}' declares an invalid params schema for kind "
            f"'{spec.kind}'; an operator must correct the agent's definition."
        ) from None

    problems = sorted(validator.iter_errors(params), key=lambda e: list(e.path))
    if not problems:
        return
    raise BadRequest(
        f"The params do not match what kind '{spec.kind}' takes; see details.",
        details=[
            {
                "pointer": "/params" + "".join(f"/{part}" for part in problem.path),
                "message": problem.message[:300],
                "type": str(problem.validator),
            }
            for problem in problems[:MAX_PARAM_ERRORS]
        ],
    )


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Draft202012Validator:
    schema = json.loads(schema_text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)
