"""``agentos audit verify``: walk the audit hash chain and name the first break.

The command reads ``audit_records`` in sequence order straight from the
configured database (the service need not run) and checks every record's
hash and its link to the one before. Exit status 0 means the chain holds;
1 means it does not, and the report names the first broken record and why;
2 is a database that cannot be reached, as for every command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from agentos.config import Settings
from agentos.pipeline.audit import Verification, verify_chain

EXIT_INTACT = 0
EXIT_BROKEN = 1


def add_audit_parser(commands: Any) -> None:
    """Add ``audit`` and its subcommands to the ``agentos`` parser."""
    audit = commands.add_parser("audit", help="the audit trail")
    sub = audit.add_subparsers(title="audit commands")

    verify = sub.add_parser("verify", help="check the hash chain; exit 1 if broken")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(run=verify_audit)


def verify_audit(args: argparse.Namespace, settings: Settings) -> int:
    """Walk the chain and print what it found."""
    report = asyncio.run(_verify(settings))
    print(json.dumps(_as_dict(report)) if args.json else _as_text(report))
    return EXIT_INTACT if report.intact else EXIT_BROKEN


async def _verify(settings: Settings) -> Verification:
    from agentos.store import connect_database

    db = connect_database(
        settings.database_url, data_dir=settings.data_dir, pool_size=1
    )
    try:
        return await verify_chain(db)
    finally:
        await db.close()


def _as_dict(report: Verification) -> dict[str, Any]:
    broken = report.broken
    return {
        "intact": report.intact,
        "checked": report.checked,
        "head": {"seq": report.head.seq, "hash": report.head.hash},
        "broken": {"seq": broken.seq, "reason": broken.reason} if broken else None,
    }


def _as_text(report: Verification) -> str:
    if report.broken is None:
        return (
            f"audit chain intact: {report.checked} record(s), head {report.head.seq} "
            f"{report.head.hash}"
        )
    return (
        f"audit chain BROKEN at record {report.broken.seq}: {report.broken.reason}.\n"
        f"The {report.checked} record(s) before it hold; record "
        f"{report.broken.seq} and everything after it cannot be trusted."
    )
