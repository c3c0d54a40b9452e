"""HTTP routes: one blueprint per resource."""

from __future__ import annotations

from sanic import Blueprint


def blueprints() -> list[Blueprint]:
    """Every blueprint of the service, in registration order."""
    from agentos.routes import (
        admin_action,
        admin_ssot,
        agents,
        analytics,
        auth,
        clips,
        jobs,
        metrics,
        queue,
        system,
        uploads,
    )

    return [
        system.bp, admin_ssot.bp, admin_action.bp, metrics.bp,
        jobs.bp, queue.bp, clips.bp, analytics.bp,
        agents.bp, uploads.bp, auth.bp,
    ]
