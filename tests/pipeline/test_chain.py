"""The audit hash chain: linking records and finding the first broken one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agentos.pipeline.chain import GENESIS, Head, link, normalize, record_hash, verify


def _records(count: int) -> list[dict[str, Any]]:
    start = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    return [
        {
            "ts": start + timedelta(seconds=n),
            "actor": f"user-{n}",
            "roles": ["admin"],
            "action": "job.cancel",
            "payload": {"job_id": str(n), "ratio": 0.1 * n},
            "decision": "allowed",
            "status": 200,
            "duration_ms": 1.25,
        }
        for n in range(count)
    ]


def test_linked_records_verify() -> None:
    """A freshly linked chain has no break, starts at GENESIS and counts up."""
    records = _records(5)

    head = link(Head(), records)

    assert verify(records) is None
    assert records[0]["prev_hash"] == GENESIS
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert head == Head(5, records[-1]["hash"])


def test_a_second_batch_continues_the_first() -> None:
    """Linking after a head continues the numbering and the hashes."""
    first, second = _records(2), _records(3)

    head = link(Head(), first)
    link(head, second)

    assert verify(first + second) is None
    assert second[0]["prev_hash"] == first[-1]["hash"]


def test_an_edited_record_is_the_first_break() -> None:
    """Changing one field of a record is reported at that record."""
    records = _records(4)
    link(Head(), records)

    records[2]["actor"] = "someone-else"

    found = verify(records)
    assert found is not None
    assert found.seq == 3
    assert "content" in found.reason


def test_a_rehashed_edit_breaks_the_next_link() -> None:
    """An edit whose hash was recomputed is caught by its successor's link."""
    records = _records(4)
    link(Head(), records)

    records[1]["outcome"] = "succeeded"
    records[1]["hash"] = record_hash(records[1])

    found = verify(records)
    assert found is not None
    assert found.seq == 3
    assert "prev_hash" in found.reason


def test_a_deleted_record_is_reported_as_missing() -> None:
    """A gap in the sequence names the missing record."""
    records = _records(4)
    link(Head(), records)

    del records[1]

    found = verify(records)
    assert found is not None
    assert found.seq == 2


def test_normalize_makes_values_survive_jsonb() -> None:
    """Huge integral floats become ints and NUL characters are replaced."""

    assert normalize({"a": 1e300, "b": 0.5, "c": "x\x00y", "d": [2.0]}) == {
        "a": int(1e300),
        "b": 0.5,
        "c": "x\ufffdy",
        "d": [2.0],
    }
