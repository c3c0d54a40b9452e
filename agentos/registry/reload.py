"""Swapping the registry atomically, and what triggers a swap.

Theory of operation. ``RegistryHolder.current`` is the one reference every
request reads. A reload builds a complete new registry off to the side and
assigns it in a single statement; a request holds on to the registry it
read, so it never sees half of an edit. A load that fails leaves
``current`` untouched and logs the whole report (``registry.reload_failed``).

A reload is cheap to ask for: the content hash of the files is compared
first, and an unchanged tree ends there. Three things ask:

* ``SIGHUP`` to a worker (``install_sighup``); the main process of a
  multi-worker server forwards its SIGHUP to every worker
  (``forward_sighup_to_workers``);
* the ``system.registry.reload`` action, through ``reload_everywhere``:
  reload here, and only when that succeeded, publish on ``registry.reload``;
* a message on ``registry.reload`` (``listen_for_reloads``), so every worker
  of every host reloads from its own files and reports the version it
  reached. All of them end on the same version when they see the same files.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentos.errors import AgentOSError
from agentos.logs import log_event
from agentos.registry.loader import RegistrySource
from agentos.registry.problems import Problem, RegistryError, format_report
from agentos.registry.registry import Registry

logger = logging.getLogger("agentos.registry")

RELOAD_CHANNEL = "registry.reload"
RESUBSCRIBE_SECONDS = 2.0

Listener = Callable[[Registry], None]


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: the versions before and after, or why it failed."""

    previous: str
    version: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the files loaded (changed or not)."""
        return not self.problems

    @property
    def changed(self) -> bool:
        """Whether a new registry is now current."""
        return self.ok and self.version != self.previous

    def as_dict(self) -> dict[str, Any]:
        """The outcome as JSON-able data for an action's reply."""
        return {
            "previous_version": self.previous,
            "version": self.version,
            "changed": self.changed,
            "problems": [problem.as_detail() for problem in self.problems],
        }


class RegistryHolder:
    """The current registry, replaced only by a complete, clean new one."""

    def __init__(self, registry: Registry, source: RegistrySource) -> None:
        self.current = registry
        self.source = source
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()

    def on_swap(self, listener: Listener) -> None:
        """Call ``listener(new_registry)`` after every successful swap."""
        self._listeners.append(listener)

    def reload(self) -> ReloadOutcome:
        """Load the files now; swap in the result if it is clean and new."""
        previous = self.current.version
        if self.source.version() == previous:
            return ReloadOutcome(previous, previous)
        try:
            registry = self.source.load()
        except RegistryError as exc:
            return self._failed(previous, exc)
        self._swap(registry)
        return ReloadOutcome(previous, registry.version)

    async def reload_async(self) -> ReloadOutcome:
        """``reload`` with the loading in a thread, one reload at a time."""
        async with self._lock:
            previous = self.current.version
            if await asyncio.to_thread(self.source.version) == previous:
                return ReloadOutcome(previous, previous)
            try:
                registry = await asyncio.to_thread(self.source.load)
            except RegistryError as exc:
                return self._failed(previous, exc)
            self._swap(registry)
            return ReloadOutcome(previous, registry.version)

    def _swap(self, registry: Registry) -> None:
        previous, self.current = self.current, registry
        log_event(
            logger,
            "registry.reloaded",
            previous_version=previous.version,
            version=registry.version,
            actions=len(registry),
            load_ms=registry.load_ms,
        )
        for listener in self._listeners:
            listener(registry)

    def _failed(self, previous: str, exc: RegistryError) -> ReloadOutcome:
        log_event(
            logger,
            "registry.reload_failed",
            logging.ERROR,
            version=previous,
            mistakes=len(exc.problems),
            report=format_report(exc.problems),
            hint="the previous registry keeps serving; fix the files and reload",
        )
        return ReloadOutcome(previous, previous, exc.problems)


# --- triggers ---------------------------------------------------------------


async def reload_everywhere(holder: RegistryHolder, state: Any) -> ReloadOutcome:
    """Reload here; if that worked, ask every other worker to do the same.

    All or nothing: when the files do not load here, nothing is published
    and every worker keeps its registry.
    """
    outcome = await holder.reload_async()
    if outcome.ok:
        message = json.dumps({"version": outcome.version, "origin": os.getpid()})
        await state.publish(RELOAD_CHANNEL, message)
    return outcome


async def listen_for_reloads(holder: RegistryHolder, state: Any) -> None:
    """Reload whenever ``registry.reload`` says so; runs until cancelled.

    A lost subscription (Redis restarting) is retried every few seconds; a
    missed message is harmless because the next reload reads the files,
    not the message.
    """
    while True:
        try:
            async with state.subscribe(RELOAD_CHANNEL) as messages:
                async for raw in messages:
                    await _on_message(holder, raw)
        except AgentOSError as exc:
            log_event(
                logger,
                "registry.subscription_lost",
                logging.WARNING,
                error=exc.message,
                retry_in_seconds=RESUBSCRIBE_SECONDS,
            )
            await asyncio.sleep(RESUBSCRIBE_SECONDS)


async def _on_message(holder: RegistryHolder, raw: bytes) -> None:
    announced = _announced_version(raw)
    outcome = await holder.reload_async()
    if announced and outcome.ok and outcome.version != announced:
        log_event(
            logger,
            "registry.version_mismatch",
            logging.WARNING,
            announced=announced,
            version=outcome.version,
            hint="this worker sees other files than the one that reloaded",
        )


def _announced_version(raw: bytes) -> str | None:
    try:
        version = json.loads(raw).get("version")
    except (ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def install_sighup(
    holder: RegistryHolder,
    loop: asyncio.AbstractEventLoop,
    state: Any = None,
) -> None:
    """Reload on ``SIGHUP`` in this process; with ``state``, tell the others too."""

    def on_signal() -> None:
        log_event(logger, "registry.reload_requested", trigger="SIGHUP")
        if state is None:
            loop.create_task(holder.reload_async())
        else:
            loop.create_task(reload_everywhere(holder, state))

    loop.add_signal_handler(signal.SIGHUP, on_signal)


def forward_sighup_to_workers(pids: Callable[[], list[int]]) -> None:
    """In a server's main process: pass ``SIGHUP`` on to each worker.

    Without this, SIGHUP's default action would end the main process and
    with it the whole server.
    """

    def forward(signum: int, frame: object) -> None:
        for pid in pids():
            os.kill(pid, signal.SIGHUP)

    signal.signal(signal.SIGHUP, forward)
