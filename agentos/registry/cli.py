"""``agentos actions ...``: list, show, lint and document the declared actions.

* ``list [--json]``: name, view, permission, rate class, target, mode;
* ``show NAME [--json]``: everything declared, and who may run it;
* ``lint [PATH]``: every mistake of the declarations (a directory or one
  file), exit status 1 when there is any;
* ``docs [--output FILE]``: the Markdown catalogue.

None of them needs the database or Redis: the service classes are imported
to check targets, never instantiated. A registry that does not load ends
``list``, ``show`` and ``docs`` with its report and exit status 2, like any
bad setting; ``lint`` is the command that is meant to find mistakes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agentos.config import Settings
from agentos.registry import Registry, RegistrySource, lint
from agentos.registry.docs import action_entry, catalogue, who_may_run
from agentos.registry.problems import format_report
from agentos.services.catalog import load_all

EXIT_OK = 0
EXIT_MISTAKES = 1


def add_actions_parser(commands: Any) -> None:
    """Add ``actions`` and its subcommands to the ``agentos`` parser."""
    actions = commands.add_parser("actions", help="the declared admin actions")
    sub = actions.add_subparsers(title="actions commands")

    listing = sub.add_parser("list", help="one line per action")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=list_actions)

    show = sub.add_parser("show", help="one action in full, and who may run it")
    show.add_argument("name", help="the action's name, e.g. job.cancel")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(run=show_action)

    check = sub.add_parser("lint", help="report every mistake; exit 1 if any")
    check.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="a directory or one YAML file (default: actions_dir)",
    )
    check.set_defaults(run=lint_actions)

    docs = sub.add_parser("docs", help="print the Markdown catalogue")
    docs.add_argument("--output", type=Path, help="write it to this file instead")
    docs.set_defaults(run=write_docs)


def _registry(settings: Settings) -> Registry:
    return RegistrySource(
        settings.actions_dir, settings.policies_dir, load_all()
    ).load()


def list_actions(args: argparse.Namespace, settings: Settings) -> int:
    """Print one row per action, as a table or as JSON."""
    registry = _registry(settings)
    rows = [spec.summary_row() for spec in registry]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    columns = ["name", "view", "permission", "rate_class", "target", "mode"]
    widths = {c: max([len(c), *(len(str(r[c])) for r in rows)]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())
    print(f"{len(rows)} actions, registry version {registry.version}")
    return EXIT_OK


def show_action(args: argparse.Namespace, settings: Settings) -> int:
    """Print one action's declaration, schema, examples and who may run it."""
    registry = _registry(settings)
    spec = registry.specs.get(args.name)
    if spec is None:
        print(
            f"agentos: no action named '{args.name}'; see `agentos actions list`",
            file=sys.stderr,
        )
        return EXIT_MISTAKES
    if args.json:
        roles = registry.permissions.roles_for(spec.name)
        facts = {**spec.as_dict(), "roles": {r: s.value for r, s in roles.items()}}
        print(json.dumps(facts, indent=2))
        return EXIT_OK
    print("\n".join(action_entry(registry, spec)))
    print(f"\nPayload schema:\n{json.dumps(spec.payload, indent=2)}")
    print(f"\nMay run it: {who_may_run(registry, spec)}")
    return EXIT_OK


def lint_actions(args: argparse.Namespace, settings: Settings) -> int:
    """Print every mistake and exit 1, or say that all is well."""
    path = args.path or settings.actions_dir
    problems = lint(path, settings.policies_dir, load_all())
    if problems:
        print(format_report(problems))
        return EXIT_MISTAKES
    print(f"{path}: no mistakes")
    return EXIT_OK


def write_docs(args: argparse.Namespace, settings: Settings) -> int:
    """Print the Markdown catalogue, or write it to ``--output``."""
    text = catalogue(_registry(settings))
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
        return EXIT_OK
    sys.stdout.write(text)
    return EXIT_OK
