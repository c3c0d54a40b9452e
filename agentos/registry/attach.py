"""Attaching the registry to the Sanic app: load, document, reload triggers.

``attach_registry`` runs inside ``create_app``, so a broken ``actions.d/``
stops the start before any worker runs, with the full report. Afterwards:

* the OpenAPI components follow every swap of the registry;
* each worker, once serving, reloads on ``SIGHUP`` and on messages of the
  ``registry.reload`` channel;
* the main process of a multi-worker server passes ``SIGHUP`` on to its
  workers (Sanic fires ``main_process_ready`` only when there are several).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from sanic import Sanic

from agentos.config import Settings
from agentos.registry import RegistryHolder, load_registry
from agentos.registry.openapi import OpenAPIComponents
from agentos.registry.reload import (
    forward_sighup_to_workers,
    install_sighup,
    listen_for_reloads,
)
from agentos.services.catalog import load_all

LISTENER_TASK = "agentos.registry.reload"


def attach_registry(app: Sanic[Any, Any], settings: Settings) -> RegistryHolder:
    """Load the registry into ``app.ctx.registry`` and wire its reloads."""
    holder = load_registry(settings, load_all())
    app.ctx.registry = holder

    document = OpenAPIComponents()
    document(holder.current)
    holder.on_swap(document)

    app.register_listener(_start_reload_triggers, "after_server_start")
    app.register_listener(_stop_reload_triggers, "before_server_stop")
    app.register_listener(_forward_sighup, "main_process_ready")
    return holder


async def _start_reload_triggers(app: Sanic[Any, Any]) -> None:
    loop = asyncio.get_running_loop()
    holder: RegistryHolder = app.ctx.registry
    state = app.ctx.state
    with contextlib.suppress(NotImplementedError, RuntimeError):
        # no signals on Windows, nor outside the main thread (test servers)
        install_sighup(holder, loop, state)
    # A plain task, not app.add_task: Sanic names tasks only when it runs the
    # loop itself, and test servers started with create_server do not.
    app.ctx.registry_listener = loop.create_task(
        listen_for_reloads(holder, state), name=LISTENER_TASK
    )


async def _stop_reload_triggers(app: Sanic[Any, Any]) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
    listener: asyncio.Task[None] | None = getattr(app.ctx, "registry_listener", None)
    if listener is None:
        return
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener


def _forward_sighup(app: Sanic[Any, Any]) -> None:
    def worker_pids() -> list[int]:
        return [process.pid for process in app.manager.transient_processes]

    forward_sighup_to_workers(worker_pids)
