"""A test-only target service and the actions that reach it, for pipeline tests.

``Probe`` records every call it receives on its instance (``calls``), so a
test sees from outside the HTTP reply whether the pipeline let a call
through to the service. Its operations succeed, fail, refuse, hang or run
long on demand; its breaker gives up a call after 0.3 s. ``PROBE_ACTIONS``
declares one action per operation; the ``probe_app`` fixture writes them
next to the real ones and registers ``Probe`` in the catalogue only for the
test's duration.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentos.errors import AgentOSError, Conflict
from agentos.services.base import CallContext, Service, operation


class Probe(Service):
    """Operations with an observable effect and a chosen outcome."""

    name = "probe"

    def __init__(self, deps: Any) -> None:
        super().__init__(deps)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.flaky_failures = 1

    @operation
    async def touch(self, ctx: CallContext, *, tag: str = "") -> dict[str, Any]:
        """Count a call; the count is the effect."""
        self.calls.append(("touch", {"tag": tag, "by": ctx.principal.subject}))
        await asyncio.sleep(0)
        return {"touches": self._count("touch")}

    @operation
    async def fail(self, ctx: CallContext) -> None:
        """Fail as a broken dependency would (500)."""
        self.calls.append(("fail", {}))
        raise AgentOSError("The probe failed on purpose.")

    @operation
    async def refuse(self, ctx: CallContext) -> None:
        """Refuse as a business rule would (409)."""
        self.calls.append(("refuse", {}))
        raise Conflict("The probe refuses on purpose.")

    @operation
    async def flaky(self, ctx: CallContext, *, tag: str = "") -> dict[str, Any]:
        """Fail ``flaky_failures`` times, then succeed."""
        self.calls.append(("flaky", {"tag": tag}))
        if self.flaky_failures > 0:
            self.flaky_failures -= 1
            raise AgentOSError("The probe is flaky on purpose.")
        return {"attempts": self._count("flaky")}

    @operation
    async def hang(self, ctx: CallContext) -> None:
        """Never answer, as a service stuck on a dead connection would."""
        self.calls.append(("hang", {}))
        await asyncio.Event().wait()

    @operation
    async def profile(
        self, ctx: CallContext, *, email: str, password: str, note: str = ""
    ) -> dict[str, Any]:
        """Accept personal data that the audit must not keep."""
        self.calls.append(("profile", {"email": email}))
        return {"saved": True}

    @operation
    async def export(
        self, ctx: Any, *, rows: int, pause: float = 0.0
    ) -> dict[str, Any]:
        """Long work: report progress, pause, then return the row count."""
        self.calls.append(("export", {"rows": rows}))
        await ctx.report_progress(0.5)
        await asyncio.sleep(pause)
        return {"rows": rows}

    def _count(self, operation_name: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation_name)


PROBE_ACTIONS = """
view: Probe
actions:
  probe.touch:
    summary: Count a call
    rate_class: standard
    target: probe.touch
    permission: system.probe
    payload:
      type: object
      properties:
        tag: {type: string, maxLength: 100}
  probe.touch_once:
    summary: Count a call, with a required idempotency key
    rate_class: standard
    target: probe.touch
    permission: system.probe
    idempotency: required
    payload:
      type: object
      properties:
        tag: {type: string, maxLength: 100}
  probe.fail:
    summary: Fail
    rate_class: standard
    target: probe.fail
    permission: system.probe
    payload: {type: object, properties: {}}
  probe.refuse:
    summary: Refuse
    rate_class: standard
    target: probe.refuse
    permission: system.probe
    payload: {type: object, properties: {}}
  probe.flaky:
    summary: Fail once, then succeed
    rate_class: standard
    target: probe.flaky
    permission: system.probe
    payload:
      type: object
      properties:
        tag: {type: string, maxLength: 100}
  probe.hang:
    summary: Never answer
    rate_class: standard
    target: probe.hang
    permission: system.probe
    payload: {type: object, properties: {}}
  probe.profile:
    summary: Store personal data
    rate_class: standard
    target: probe.profile
    permission: system.probe
    audit: request_response
    payload:
      type: object
      required: [email, password]
      properties:
        email: {type: string, format: email, x-pii: true}
        password: {type: string}
        note: {type: string, maxLength: 500}
  probe.export:
    summary: Export rows in the background
    rate_class: standard
    target: probe.export
    permission: system.probe
    mode: async
    payload:
      type: object
      required: [rows]
      properties:
        rows: {type: integer, minimum: 0}
        pause: {type: number, minimum: 0, maximum: 5}
"""

PROBE_BREAKER = """
services:
  probe:
    window_size: 4
    minimum_calls: 4
    failure_rate_threshold: 50
    open_seconds: 30
    half_open_calls: 1
    call_timeout_seconds: 0.3
"""
