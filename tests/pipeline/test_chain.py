"""The audit hash chain: linking records and finding the first broken one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from agentos.pipeline.chain import (
    GENESIS,
    Head,
    canonical,
    format_time,
    link,
    link_canonical,
    normalize,
    record_hash,
    verify,
)

# A record and the bytes and hash its canonical content has always had: if
# these change, every stored chain stops verifying.
KNOWN_RECORD: dict[str, Any] = {
    "seq": 7,
    "ts": datetime(2026, 12, 3, 12, 0, 5, 120, tzinfo=timezone(timedelta(hours=2))),
    "actor": "zo\u00eb",
    "roles": ["admin", "ops"],
    "action": "job.cancel",
    "payload": {"b": [1, 2.5, None], "a": "\u00fc\u2603", "big": 10**20},
    "decision": "allowed",
    "rule": None,
    "outcome": "succeeded",
    "status": 200,
    "duration_ms": 1.25,
    "prev_hash": GENESIS,
}
KNOWN_CANONICAL = (
    '{"action":"job.cancel","actor":"zo\u00eb","client_ip":null,'
    '"decision":"allowed","duration_ms":1.25,"error_code":null,'
    '"idempotency_key":null,"outcome":"succeeded",'
    '"payload":{"a":"\u00fc\u2603","b":[1,2.5,null],"big":100000000000000000000},'
    '"policy_version":null,"prev_hash":"' + GENESIS + '","registry_version":null,'
    '"roles":["admin","ops"],"rule":null,"seq":7,"status":200,"trace_id":null,'
    '"ts":"2026-12-03T10:00:05.000120Z","user_agent":null}'
).encode()
KNOWN_HASH = "3a6a53118e3437855c575a665cc67cfcb01f8bde1a05ada5e14760b9122be73e"


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


def test_canonical_content_and_hash_are_what_they_always_were() -> None:
    """A fixed record encodes and hashes exactly as chains already stored did."""

    encoded, hashed = canonical(KNOWN_RECORD), record_hash(KNOWN_RECORD)

    assert encoded == KNOWN_CANONICAL
    assert hashed == KNOWN_HASH


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(datetime(2026, 1, 31, 9, 5, tzinfo=UTC), id="whole-second"),
        pytest.param(datetime(2026, 1, 31, 9, 5, 0, 7, tzinfo=UTC), id="microsecond"),
        pytest.param(
            datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=5))),
            id="other-offset-and-day",
        ),
        pytest.param(datetime(999, 12, 31, 23, 59, tzinfo=UTC), id="year-999"),
        pytest.param(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), id="max"),
    ],
)
def test_times_are_written_as_strftime_always_wrote_them(moment: datetime) -> None:
    """format_time gives strftime's text for every time, early years included."""

    written = format_time(moment)

    assert written == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_link_canonical_hands_back_the_content_it_hashed() -> None:
    """The texts are each record's canonical content; the chain is link's."""
    records, twins = _records(3), _records(3)

    head, texts = link_canonical(Head(), records)

    assert head == link(Head(), twins)
    assert records == twins
    assert [text.encode() for text in texts] == [canonical(r) for r in records]
