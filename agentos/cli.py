"""The ``agentos`` command: serve, migrate, issue tokens, manage actions.

Every command loads the settings first; a bad setting ends the command with
the report of what is wrong and exit status 2, never with a traceback. So
does a database or Redis that cannot be reached at start.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from agentos.config import Settings, jwt_signing_key, load_settings
from agentos.errors import AgentOSError, ConfigError
from agentos.logs import configure_logging

EXIT_USAGE = 2
Command = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    try:
        settings = load_settings(overrides=_overrides(args))
        configure_logging(settings.log_level, settings.log_format)
        return int(args.run(args, settings))
    except ConfigError as exc:
        print(f"agentos: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AgentOSError as exc:
        print(f"agentos: {exc.message}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentos", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="listen address (default from config)")
    serve.add_argument("--port", type=int, help="listen port (default from config)")
    serve.add_argument("--workers", type=int, help="worker processes")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--dry-run", action="store_true", help="only list them")
    migrate.set_defaults(run=_migrate)

    spec = commands.add_parser("openapi", help="print the OpenAPI document as JSON")
    spec.add_argument(
        "--inventory", action="store_true", help="print the endpoint inventory instead"
    )
    spec.set_defaults(run=_openapi)

    token = commands.add_parser("token", help="access tokens").add_subparsers()
    issue = token.add_parser("issue", help="print a signed access token")
    issue.add_argument("--sub", required=True, help="the subject (user id)")
    issue.add_argument("--role", action="append", required=True, help="repeatable")
    issue.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    issue.add_argument(
        "--refresh", action="store_true",
        help="print a new session's access and refresh tokens as JSON instead",
    )
    issue.set_defaults(run=_issue_token)

    for extend in _extensions():
        extend(commands)
    return parser


def _extensions() -> list[Callable[[Any], None]]:
    """Subcommand groups that other packages of the project contribute."""
    found: list[Callable[[Any], None]] = []
    try:
        from agentos.registry.cli import add_actions_parser
    except ImportError:
        pass
    else:
        found.append(add_actions_parser)
    from agentos.pipeline.cli import add_audit_parser

    found.append(add_audit_parser)
    return found


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = ("host", "port", "workers")
    return {name: getattr(args, name) for name in names if getattr(args, name, None)}


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    if settings.redis_url is None and settings.workers > 1:
        raise ConfigError(
            f"workers = {settings.workers}, but the in-memory state cannot be shared "
            "between worker processes; set AGENTOS_REDIS_URL to run several workers, "
            "or run one worker."
        )
    asyncio.run(_preflight(settings))

    loader = AppLoader(factory=partial(_build_app, settings))
    app = loader.load()
    single = settings.workers == 1
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        single_process=single,
        motd=False,
        access_log=False,
    )
    if single:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)
    return 0


def _build_app(settings: Settings) -> Any:
    from agentos.app import create_app

    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    app.register_listener(_freeze_heap, "after_server_start")
    return app


async def _freeze_heap(app: Any) -> None:
    # Everything built at start-up (the app, routes, registry models, pools)
    # lives as long as the worker. Moving it out of the collector's reach
    # spares every full collection a walk over it: such walks were the
    # 20 ms pauses behind the p99 under load. Only the server does this;
    # the tests start many short-lived apps in one process.
    gc.collect()
    gc.freeze()


async def _preflight(settings: Settings) -> None:
    """Reach the database and the state store before starting any worker."""
    from agentos.state import connect_state
    from agentos.store import connect_database

    db = connect_database(
        settings.database_url, data_dir=settings.data_dir, pool_size=1
    )
    try:
        await db.ping()
        if settings.migrate_on_start:
            await db.migrate()
    finally:
        await db.close()
    state = connect_state(settings.redis_url, prefix=settings.redis_prefix)
    try:
        await state.ping()
    finally:
        await state.close()


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from agentos.store import connect_database

    async def run() -> list[str]:
        db = connect_database(settings.database_url, data_dir=settings.data_dir)
        try:
            return await (db.pending_migrations() if args.dry_run else db.migrate())
        finally:
            await db.close()

    names = asyncio.run(run())
    verb = "pending" if args.dry_run else "applied"
    print(f"{len(names)} migration(s) {verb}" + "".join(f"\n  {n}" for n in names))
    return 0


def _openapi(args: argparse.Namespace, settings: Settings) -> int:
    import json
    import tempfile
    from pathlib import Path

    from agentos.app import openapi_document

    with tempfile.TemporaryDirectory() as scratch:
        isolated = settings.model_copy(
            update={"data_dir": Path(scratch), "database_url": None, "redis_url": None}
        )
        document = asyncio.run(openapi_document(isolated))
    if args.inventory:
        from agentos.http.inventory import render_inventory

        print(render_inventory(document), end="")
    else:
        print(json.dumps(document, indent=2, sort_keys=True))
    return 0


def _issue_token(args: argparse.Namespace, settings: Settings) -> int:
    from agentos.auth.tokens import TokenKeys, issue_token

    if args.refresh:
        return _issue_pair(args, settings)
    secret, _ = jwt_signing_key(settings)
    keys = TokenKeys(secret, settings.jwt.issuer, settings.jwt.audience)
    ttl = args.ttl or settings.jwt.access_ttl_seconds
    token, _ = issue_token(keys, args.sub, args.role, ttl_seconds=ttl)
    print(token)
    return 0


def _issue_pair(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from agentos.services.auth import issue_pair, signing_keys

    access_ttl = args.ttl or settings.jwt.access_ttl_seconds
    pair = issue_pair(
        signing_keys(settings), args.sub, args.role, access_ttl=access_ttl,
        refresh_ttl=settings.jwt.refresh_ttl_seconds,
    )
    print(json.dumps(pair.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
