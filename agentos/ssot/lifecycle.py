"""The Sanic listeners that give each worker its read model and warmer.

``open_read_model`` runs in ``before_server_start``, after the stores are
open; ``start_warmer`` in ``after_server_start``, because aiocron must be
given the running loop; ``stop_warmer`` in ``before_server_stop``, while the
stores are still open, so that a rebuild in progress finishes and the
warmer's lock is handed back for another process to take at once.
"""

from __future__ import annotations

from typing import Any

from sanic import Sanic

from agentos.config import Settings
from agentos.ssot.model import ReadModel
from agentos.ssot.sections import Sources
from agentos.ssot.warmer import Warmer


async def open_read_model(app: Sanic[Any, Any]) -> None:
    """Build this worker's ``ReadModel`` as ``app.ctx.ssot``."""
    settings: Settings = app.ctx.settings
    sources = Sources(
        db=app.ctx.db,
        state=app.ctx.state,
        services=app.ctx.services,
        registry_version=lambda: _registry_version(app),
    )
    app.ctx.ssot = ReadModel(
        sources,
        ttl_seconds=settings.ssot.ttl_seconds,
        section_timeout_seconds=settings.ssot.section_timeout_seconds,
        local_seconds=settings.ssot.local_copy_seconds,
    )


async def start_warmer(app: Sanic[Any, Any]) -> None:
    """Schedule this worker's warmer, unless the settings turn it off."""
    settings: Settings = app.ctx.settings
    app.ctx.ssot_warmer = None
    if not settings.ssot.warmer_enabled:
        return
    warmer = Warmer(app.ctx.ssot, interval_seconds=settings.ssot.warm_interval_seconds)
    warmer.start()
    app.ctx.ssot_warmer = warmer


async def stop_warmer(app: Sanic[Any, Any]) -> None:
    """Stop the warmer and let a collection in progress finish."""
    warmer: Warmer | None = getattr(app.ctx, "ssot_warmer", None)
    if warmer is not None:
        await warmer.stop()
    model: ReadModel | None = getattr(app.ctx, "ssot", None)
    if model is not None:
        await model.close()


def _registry_version(app: Sanic[Any, Any]) -> str | None:
    registry = getattr(app.ctx, "registry", None)
    if registry is None:
        return None
    return str(registry.current.version)
