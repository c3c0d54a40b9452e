"""A test-only service and a way to lay out actions and policies in a folder.

``Gadgets`` is a small service registered in no catalogue: the registry
tests hand it to the loader directly, so they neither need the real domain
services nor change the process-wide ``SERVICE_CLASSES``. Its operations
record each call, so a test can see what a dispatch passed on.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

from agentos.services.base import CallContext, Service, operation

REPO = Path(__file__).resolve().parents[2]


class Gadgets(Service):
    """Operations with every kind of parameter the registry must match."""

    name = "gadgets"
    calls: list[tuple[str, CallContext, dict[str, Any]]]

    def __init__(self) -> None:  # no stores: nothing here touches them
        self.calls = []

    @operation
    async def tune(
        self, ctx: CallContext, *, gadget_id: str, level: int, note: str | None = None
    ) -> dict[str, Any]:
        """Set a gadget's level."""
        self.calls.append(
            ("tune", ctx, {"gadget_id": gadget_id, "level": level, "note": note})
        )
        return {"gadget_id": gadget_id, "level": level}

    @operation
    async def wipe(
        self, ctx: CallContext, *, zone: str | None = None
    ) -> dict[str, Any]:
        """Wipe every gadget, or those of one zone."""
        self.calls.append(("wipe", ctx, {"zone": zone}))
        return {"wiped": 3}

    @operation
    async def anything(self, ctx: CallContext, **options: Any) -> dict[str, Any]:
        """Accept any payload."""
        self.calls.append(("anything", ctx, options))
        return options

    async def helper(self, ctx: CallContext, *, gadget_id: str) -> None:
        """Not an operation: no action may target it."""


CLASSES = {"gadgets": Gadgets}

GADGET_ACTIONS = """
view: Gadgets
actions:
  gadget.tune:
    summary: Tune a gadget
    rate_class: standard
    target: gadgets.tune
    permission: job.tune_gadget
    ownership: {field: gadget_id, resource: gadget}
    payload:
      type: object
      required: [gadget_id, level]
      properties:
        gadget_id: {type: string, minLength: 1}
        level: {type: integer, minimum: 0, maximum: 9}
        note: {type: string, x-pii: true}
    examples:
      - {gadget_id: g1, level: 3}
  gadget.wipe:
    summary: Wipe gadgets
    rate_class: high_risk
    target: gadgets.wipe
    permission: queue.wipe_gadgets
    confirm: true
    payload:
      type: object
      properties:
        zone: {type: string, default: north}
"""


def actions_tree(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    """An actions folder holding ``files`` and a copy of the real policies."""
    actions = tmp_path / "actions.d"
    actions.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (actions / name).write_text(textwrap.dedent(text).lstrip())
    policies = tmp_path / "policies"
    if not policies.exists():
        shutil.copytree(REPO / "policies", policies)
    return actions, policies
