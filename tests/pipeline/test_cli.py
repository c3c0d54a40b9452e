"""``agentos audit verify``: the chain checked from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from agentos.pipeline.audit import AuditWriter, new_record
from agentos.store.base import Database
from tests.pipeline.test_audit import _edit_by_hand
from tests.test_cli import run_cli


async def _write(database: Database, count: int) -> None:
    writer = AuditWriter(database)
    await writer.start()
    for n in range(count):
        await writer.append(
            new_record(actor=f"user-{n}", action="queue.pause", decision="allowed")
        )
    await writer.close()


async def test_verify_reports_an_intact_chain(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """Exit 0 and the number of records checked when nothing was touched."""
    await _write(database, 3)

    result = run_cli("audit", "verify", "--json", env=_env(database_url, tmp_path))

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["intact"], report["checked"], report["head"]["seq"]) == (True, 3, 3)


async def test_verify_names_the_first_record_edited_by_hand(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """Exit 1 and the edited record's number after a superuser's edit."""
    await _write(database, 4)
    await _edit_by_hand(database, tmp_path, seq=2, actor="mallory")

    result = run_cli("audit", "verify", env=_env(database_url, tmp_path))

    assert result.returncode == 1
    assert "BROKEN at record 2" in result.stdout


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "AGENTOS_DATABASE_URL": database_url,
        "AGENTOS_DATA_DIR": str(tmp_path / "var"),
        "AGENTOS_MIGRATE_ON_START": "false",
    }
