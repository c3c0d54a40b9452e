"""The audit writer: group commit, one chain for many writers, intents, verify."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agentos import errors
from agentos.pipeline.audit import (
    ALLOWED,
    DENIED,
    INTERRUPTED,
    SUCCEEDED,
    AuditWriter,
    kept_payload,
    new_record,
    verify_chain,
)
from agentos.pipeline.chain import CONTENT_FIELDS
from agentos.pipeline.scrub import EMAIL_MASK, PII_MASK, SECRET_MASK
from agentos.store import connect_database
from agentos.store.base import Database
from tests.fixtures.app import free_port


@pytest.fixture
async def writer(database: Database) -> AsyncIterator[AuditWriter]:
    """A started audit writer on the test database."""
    audit = AuditWriter(database, window_seconds=0.001)
    await audit.start()
    yield audit
    await audit.close()


def _record(n: int, **fields: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "actor": f"user-{n}",
        "roles": ["admin"],
        "action": "job.cancel",
        "payload": {"job_id": str(n), "ratio": n / 3},
        "decision": ALLOWED,
        "outcome": SUCCEEDED,
        "status": 200,
        "duration_ms": n / 7,
    }
    return new_record(**{**defaults, **fields})


def _content(record: dict[str, Any]) -> dict[str, Any]:
    """What the caller gave a record: every field the chain does not set."""
    return {k: record[k] for k in CONTENT_FIELDS if k not in ("seq", "prev_hash")}


async def _stored(db: Database) -> list[dict[str, Any]]:
    return await db.fetch("SELECT * FROM audit_records ORDER BY seq")


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        pytest.param("metadata", None, id="metadata"),
        pytest.param(
            "request", {"email": PII_MASK, "password": SECRET_MASK}, id="request"
        ),
        pytest.param(
            "request_response",
            {
                "request": {"email": PII_MASK, "password": SECRET_MASK},
                "response": {"contact": EMAIL_MASK},
            },
            id="request-response",
        ),
    ],
)
def test_audit_level_decides_what_is_kept(level: str, expected: Any) -> None:
    """metadata keeps nothing; request the scrubbed payload; request_response both."""
    payload = {"email": "a@b.example", "password": "hunter2"}

    kept = kept_payload(
        level, payload, {"contact": "ops@x.example"}, frozenset({"/email"})
    )

    assert kept == expected


async def test_concurrent_appends_form_one_intact_chain(
    writer: AuditWriter, database: Database
) -> None:
    """Fifty concurrent records are numbered 1..50 and the chain verifies."""

    seqs = await asyncio.gather(*(writer.append(_record(n)) for n in range(50)))

    rows = await _stored(database)
    assert sorted(seqs) == list(range(1, 51))
    assert [row["seq"] for row in rows] == list(range(1, 51))
    report = await verify_chain(database)
    assert report.intact
    assert report.checked == 50


async def test_stored_values_read_back_as_they_were_hashed(
    writer: AuditWriter, database: Database
) -> None:
    """Floats, JSON, times and text survive the database, so verify holds."""
    payload = {"big": 1e300, "tiny": 1e-7, "text": "nul\x00", "deep": [{"x": 0.1}]}
    odd = _record(1, payload=kept_payload("request", payload))

    await writer.append(odd)

    assert (await verify_chain(database)).intact


@pytest.mark.parametrize("bad", [float("nan"), float("-inf"), "\ud800"], ids=repr)
async def test_a_record_the_chain_cannot_encode_keeps_its_batch_and_its_place(
    writer: AuditWriter, database: Database, bad: Any
) -> None:
    """The record is kept without its payload; the others of its batch are whole."""
    records = [_record(n) for n in range(4)]
    records[2]["payload"] = {"response": {"value": bad}}

    seqs = await asyncio.gather(*(writer.append(r) for r in records))

    rows = {row["actor"]: row for row in await _stored(database)}
    assert sorted(seqs) == [1, 2, 3, 4]
    assert set(rows["user-2"]["payload"]) == {"omitted"}
    assert "not encodable" in rows["user-2"]["payload"]["omitted"]
    for n in (0, 1, 3):
        assert rows[f"user-{n}"]["payload"] == {"job_id": str(n), "ratio": n / 3}
    assert (await verify_chain(database)).intact


async def test_two_writers_share_one_chain(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """Writers of two processes interleave batches without forking the chain."""
    other_db = connect_database(database_url, data_dir=tmp_path, pool_size=2)
    first, second = AuditWriter(database), AuditWriter(other_db)
    await first.start()
    await second.start()

    await asyncio.gather(
        *(first.append(_record(n)) for n in range(30)),
        *(second.append(_record(n)) for n in range(30)),
    )
    await second.close()
    await first.close()
    await other_db.close()

    rows = await _stored(database)
    assert [row["seq"] for row in rows] == list(range(1, 61))
    assert (await verify_chain(database)).intact


async def test_an_intent_is_durable_before_and_gone_after(
    writer: AuditWriter, database: Database
) -> None:
    """The intent row exists while the call runs and leaves with its record."""

    intent = await writer.intend(_record(1, outcome=None))
    pending = await database.fetchval("SELECT count(*) FROM audit_pending")
    await writer.append(_record(1), intent=intent)

    assert pending == 1
    assert await database.fetchval("SELECT count(*) FROM audit_pending") == 0
    assert len(await _stored(database)) == 1


async def test_a_batch_of_intents_lands_every_intent_as_intended(
    writer: AuditWriter, database: Database
) -> None:
    """Twenty intents written together are each stored, whole, under this owner."""
    payloads = [{"n": n, "text": "zo\u00eb"} for n in range(20)]
    records = [_record(n, outcome=None, payload=p) for n, p in enumerate(payloads)]

    intents = await asyncio.gather(*(writer.intend(r) for r in records))

    rows = await database.fetch("SELECT id, owner, record FROM audit_pending")
    stored = {str(row["id"]): row for row in rows}
    assert sorted(stored) == sorted(intents)
    for intent, record in zip(intents, records, strict=True):
        kept, ts = stored[intent]["record"], record["ts"]
        assert stored[intent]["owner"] == writer.owner
        assert kept == {**_content(record), "ts": ts.isoformat(), "prev_hash": None}


async def test_records_read_back_equal_to_what_was_appended(
    writer: AuditWriter, database: Database
) -> None:
    """A batch of finished records is stored column for column and verifies."""
    records = [_record(n, roles=["admin", "ops"], rule=f"rule-{n}") for n in range(20)]
    intents = await asyncio.gather(*(writer.intend(r) for r in records))

    seqs = await asyncio.gather(
        *(writer.append(r, i) for r, i in zip(records, intents, strict=True))
    )

    rows = {row["seq"]: row for row in await _stored(database)}
    for seq, record in zip(seqs, records, strict=True):
        assert _content(rows[seq]) == _content(record)
    assert await database.fetchval("SELECT count(*) FROM audit_pending") == 0
    assert (await verify_chain(database)).checked == 20


@pytest.mark.postgres
async def test_intents_and_records_of_one_batch_commit_together(
    postgres_url: str, tmp_path: Path
) -> None:
    """New calls' intents and finished calls' records land in one transaction.

    PostgreSQL only: a row's ``xmin`` names the transaction that inserted it.
    """
    database = connect_database(postgres_url, data_dir=tmp_path, pool_size=2)
    writer = AuditWriter(database, window_seconds=0.001)
    await writer.start()
    earlier = [_record(n, outcome=None) for n in range(5)]
    started = await asyncio.gather(*(writer.intend(r) for r in earlier))

    await asyncio.gather(
        *(writer.append(_record(n), i) for n, i in enumerate(started)),
        *(writer.intend(_record(n, outcome=None)) for n in range(5, 10)),
    )

    transactions = await database.fetch(
        "SELECT xmin::text AS tx FROM audit_pending "
        "UNION SELECT xmin::text FROM audit_records"
    )
    pending = await database.fetchval("SELECT count(*) FROM audit_pending")
    stored = len(await _stored(database))
    await writer.close()
    await database.close()
    assert (pending, stored) == (5, 5)
    assert len(transactions) == 1


async def test_a_moved_head_relinks_the_records_and_keeps_each_intent_once(
    writer: AuditWriter, database: Database, database_url: str, tmp_path: Path
) -> None:
    """Another writer moved the head: the batch's intent is stored once, chain holds."""
    other_db = connect_database(database_url, data_dir=tmp_path, pool_size=2)
    other = AuditWriter(other_db)
    await other.start()
    await writer.append(_record(1))  # ``other`` still believes the chain is empty
    intent = await other.intend(_record(2, outcome=None))

    seqs = await asyncio.gather(
        other.append(_record(2), intent), other.intend(_record(3, outcome=None))
    )
    await other.close()
    await other_db.close()

    assert seqs[0] == 2
    assert await database.fetchval("SELECT count(*) FROM audit_pending") == 1
    assert (await verify_chain(database)).checked == 2


async def test_orphaned_intents_are_chained_once_as_interrupted(
    writer: AuditWriter, database: Database, database_url: str, tmp_path: Path
) -> None:
    """Intents of a dead process become 'interrupted' records, even if two recover."""
    await writer.intend(_record(1, outcome=None, actor="gone"))
    other_db = connect_database(database_url, data_dir=tmp_path, pool_size=2)
    other = AuditWriter(other_db)
    await other.start()

    counts = await asyncio.gather(
        writer.recover(timedelta(0)), other.recover(timedelta(0))
    )
    await other.close()
    await other_db.close()

    rows = await _stored(database)
    assert sorted(counts) == [0, 1]
    assert [(row["actor"], row["outcome"]) for row in rows] == [("gone", INTERRUPTED)]
    assert (await verify_chain(database)).intact


async def test_young_intents_are_left_to_their_calls(writer: AuditWriter) -> None:
    """An intent younger than the grace period is not recovered."""
    await writer.intend(_record(1))

    assert await writer.recover(timedelta(minutes=10)) == 0


async def test_the_append_only_table_refuses_changes(
    writer: AuditWriter, database: Database
) -> None:
    """UPDATE and DELETE on audit_records fail in the database itself."""
    await writer.append(_record(1))

    with pytest.raises(errors.AgentOSError):
        await database.execute("UPDATE audit_records SET actor = 'mallory'")
    with pytest.raises(errors.AgentOSError):
        await database.execute("DELETE FROM audit_records")
    assert (await _stored(database))[0]["actor"] == "user-1"


async def test_verify_names_a_row_edited_behind_the_triggers(
    writer: AuditWriter, database: Database, tmp_path: Path
) -> None:
    """A superuser's hand edit of record 3 is reported as the first break."""
    for n in range(5):
        await writer.append(_record(n, decision=DENIED if n % 2 else ALLOWED))

    await _edit_by_hand(database, tmp_path, seq=3, actor="mallory")

    report = await verify_chain(database)
    assert report.broken is not None
    assert report.broken.seq == 3
    assert report.checked == 2


async def test_a_dead_database_refuses_the_intent_quickly(tmp_path: Path) -> None:
    """With the database down, intend raises DependencyDown within a second."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    dead = connect_database(url, data_dir=tmp_path, connect_timeout=0.5)
    writer = AuditWriter(dead)
    await writer.start()

    with pytest.raises(errors.DependencyDown):
        await asyncio.wait_for(writer.intend(_record(1)), timeout=1.5)
    await writer.close()
    await dead.close()


async def test_a_stopped_writer_refuses_work(database: Database) -> None:
    """Nothing is accepted before start or after close."""
    writer = AuditWriter(database)

    with pytest.raises(errors.DependencyDown):
        await writer.intend(_record(1))


async def _edit_by_hand(db: Database, tmp_path: Path, *, seq: int, actor: str) -> None:
    """Change a row as a superuser would, with the append-only triggers bypassed."""
    if db.dialect == "postgresql":
        async with db.transaction() as tx:
            await tx.execute("SET LOCAL session_replication_role = replica")
            await tx.execute(
                "UPDATE audit_records SET actor = $1 WHERE seq = $2", actor, seq
            )
        return
    with sqlite3.connect(db.path) as raw:  # type: ignore[attr-defined]
        raw.execute("DROP TRIGGER audit_records_refuse_update")
        raw.execute("UPDATE audit_records SET actor = ? WHERE seq = ?", (actor, seq))
