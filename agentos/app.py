"""The application factory: one Sanic app from one ``Settings``.

``create_app`` wires the HTTP contract (trace ids, envelopes, error answers,
body limit, CORS, OpenAPI at ``/docs``) and the routes. Stores and services
are opened per worker in ``before_server_start`` and closed after it stops,
so that every worker holds its own pool and nothing is shared by fork.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time
import urllib.request
from typing import Any

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse
from sanic_ext import Extend
from sanic_ext.extensions.http.extension import HTTPExtension
from sanic_ext.extensions.openapi.extension import OpenAPIExtension

from agentos import __version__
from agentos.auth.tokens import TokenKeys
from agentos.config import Settings, jwt_signing_key
from agentos.http.handlers import handle_exception
from agentos.http.observe import prepare_metrics, record_response
from agentos.http.trace import echo_trace_id, start_request
from agentos.logs import log_event
from agentos.pipeline.gate import (
    add_rate_limit_headers,
    guard_admin_reads,
    limit_request,
    open_gate,
)
from agentos.pipeline.lifecycle import close_pipeline, open_pipeline
from agentos.registry.attach import attach_registry
from agentos.routes import admin_ssot, blueprints, pipeline_bench
from agentos.services.catalog import build_services
from agentos.ssot.lifecycle import open_read_model, start_warmer, stop_warmer
from agentos.state import connect_state
from agentos.store import connect_database

logger = logging.getLogger("agentos.app")
access_logger = logging.getLogger("agentos.access")

_app_numbers = itertools.count(1)


def create_app(settings: Settings) -> Sanic[Any, Any]:
    """Build the service's Sanic app; stores open when a worker starts."""
    app = Sanic(f"agentos_{next(_app_numbers)}", configure_logging=False)
    app.ctx.settings = settings
    _configure(app, settings)
    # Only the extensions the service uses: OpenAPI, and HTTP (CORS, the
    # automatic HEAD and OPTIONS). The built-in set also brings dependency
    # injection, whose signal Sanic dispatches on every request (about 30 us
    # of a worker's CPU, a tenth of a small answer's cost) for no route here.
    Extend(app, built_in_extensions=False, extensions=[OpenAPIExtension, HTTPExtension])
    attach_registry(app, settings)

    app.register_middleware(start_request, "request")
    app.register_middleware(guard_admin_reads, "request")
    app.register_middleware(limit_request, "request")
    app.register_middleware(add_rate_limit_headers, "response")
    # echo_trace_id annotates its response as HTTPResponse, narrower than the
    # BaseHTTPResponse Sanic hands every response middleware.
    app.register_middleware(echo_trace_id, "response")  # type: ignore[arg-type]
    app.register_middleware(_log_access, "response")
    app.register_middleware(record_response, "response")
    app.error_handler.add(Exception, handle_exception)
    for blueprint in blueprints():
        app.blueprint(blueprint)
    if settings.ssot.bench_endpoint:
        app.blueprint(admin_ssot.bench_bp)
    if settings.pipeline.bench_endpoint:
        app.blueprint(pipeline_bench.bench_bp)

    app.register_listener(prepare_metrics, "main_process_start")
    app.register_listener(_open_components, "before_server_start")
    app.register_listener(open_pipeline, "before_server_start")
    app.register_listener(open_read_model, "before_server_start")
    app.register_listener(start_warmer, "after_server_start")
    app.register_listener(stop_warmer, "before_server_stop")
    app.register_listener(_close_components, "after_server_stop")
    app.register_listener(close_pipeline, "after_server_stop")  # runs first: reversed
    return app


def _configure(app: Sanic[Any, Any], settings: Settings) -> None:
    app.config.REQUEST_MAX_SIZE = settings.request_max_bytes
    # Room for long bearer tokens and a caller's oversized trace id, which is
    # then replaced rather than refused; 16 KiB is the most Sanic allows.
    app.config.REQUEST_MAX_HEADER_SIZE = 16_384
    app.config.ACCESS_LOG = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.CORS = bool(settings.cors_origins)
    app.config.CORS_ORIGINS = ",".join(settings.cors_origins)
    app.config.CORS_ALWAYS_SEND = False
    app.config.OAS_UI_DEFAULT = "redoc"
    app.config.OAS_IGNORE_HEAD = True
    app.config.OAS_IGNORE_OPTIONS = True
    app.config.API_TITLE = "AgentOS control plane"
    app.config.API_VERSION = __version__
    app.config.API_DESCRIPTION = (
        "User REST API, the admin read model (SSOT) and the declarative admin "
        "actions of AgentOS. Every answer uses the standard envelope."
    )


async def _open_components(app: Sanic[Any, Any]) -> None:
    settings: Settings = app.ctx.settings
    secret, generated = jwt_signing_key(settings)
    if generated:
        log_event(
            logger, "jwt.development_key", logging.WARNING,
            hint="set jwt.secret (AGENTOS_JWT__SECRET) before production use",
        )
    app.ctx.token_keys = TokenKeys(
        secret=secret,
        issuer=settings.jwt.issuer,
        audience=settings.jwt.audience,
        leeway_seconds=settings.jwt.leeway_seconds,
    )

    app.ctx.db = connect_database(
        settings.database_url,
        data_dir=settings.data_dir,
        pool_size=settings.database_pool_size,
    )
    applied = await app.ctx.db.migrate() if settings.migrate_on_start else []
    app.ctx.state = connect_state(settings.redis_url, prefix=settings.redis_prefix)
    app.ctx.services = build_services(app.ctx.db, app.ctx.state, settings)
    await open_gate(app)
    log_event(
        logger, "app.started",
        database=app.ctx.db.dialect, state=app.ctx.state.backend,
        migrations_applied=len(applied),
    )


async def openapi_document(settings: Settings) -> dict[str, Any]:
    """Start the app on a free loopback port and read its OpenAPI document.

    sanic-ext builds the document while the server starts, so the only
    faithful copy is the one the running server hands out.
    """
    app = create_app(settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    # sanic's AsyncioServer leaves these methods unannotated.
    await server.startup()  # type: ignore[no-untyped-call]
    await server.before_start()  # type: ignore[no-untyped-call]
    await server.after_start()  # type: ignore[no-untyped-call]
    try:
        url = f"http://127.0.0.1:{port}/docs/openapi.json"
        raw = await asyncio.to_thread(_fetch, url)
    finally:
        await server.before_stop()  # type: ignore[no-untyped-call]
        await server.close()  # type: ignore[no-untyped-call]
        await server.after_stop()  # type: ignore[no-untyped-call]
    document: dict[str, Any] = json.loads(raw)
    return document


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


async def _close_components(app: Sanic[Any, Any]) -> None:
    # Each store is closed even when closing the other one fails: a pool
    # left open holds database connections until the process ends.
    failure: BaseException | None = None
    for name in ("state", "db"):
        component = getattr(app.ctx, name, None)
        if component is None:
            continue
        try:
            await component.close()
        except Exception as exc:
            log_event(logger, "app.close_failed", logging.ERROR, component=name,
                      reason=str(exc) or type(exc).__name__)
            failure = failure or exc
    if failure is not None:
        raise failure


async def _log_access(request: Request, response: BaseHTTPResponse) -> None:
    if not request.app.ctx.settings.access_log:
        return
    started = getattr(request.ctx, "started", None)
    principal = getattr(request.ctx, "principal", None)
    log_event(
        access_logger, "request.handled",
        method=request.method,
        path=request.path,
        status=response.status,
        duration_ms=_elapsed_ms(started),
        subject=principal.subject if principal else None,
        client_ip=request.remote_addr or request.ip,
    )


def _elapsed_ms(started: float | None) -> float | None:
    if started is None:
        return None
    return round((time.perf_counter() - started) * 1000, 2)
