"""One in-memory stream with consumer groups, as Redis keeps it.

A stream is a log of entries in id order. Ids are ``<ms>-<seq>``: the clock's
milliseconds, and a sequence number that breaks ties and keeps ids rising when
the clock stands still or steps back. A consumer group remembers the last id
it delivered and, per entry it delivered, who has it, when it was delivered
last and how often: its pending entries. Delivery moves the group forward;
``ack`` forgets a pending entry; ``autoclaim`` hands entries that stayed
pending too long to another consumer, which is how work held by a consumer
that died is picked up again.

Trimming and deleting remove entries from the log but not from the pending
lists, as in Redis; ``autoclaim`` drops such vanished entries when it meets
them. Waiting for new entries is the async adapter's business, not this one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

from agentos.state.base import StreamEntry, refused

StreamId = tuple[int, int]


def parse_id(text: str) -> StreamId:
    """Read ``<ms>-<seq>`` (or a bare ``<ms>``) into a comparable pair."""
    ms, _, seq = text.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        raise refused(f"{text!r} is not a stream entry id") from None


def format_id(entry_id: StreamId) -> str:
    """Write an id the way Redis does."""
    return f"{entry_id[0]}-{entry_id[1]}"


@dataclass
class Delivery:
    """Who holds a pending entry, since when (clock seconds), how often sent."""

    consumer: str
    at: float
    count: int


@dataclass
class Group:
    """A consumer group: its position in the stream and its pending entries."""

    last_delivered: StreamId = (0, 0)
    pending: dict[StreamId, Delivery] = field(default_factory=dict)


class Stream:
    """A log of entries in id order and the consumer groups that read it."""

    def __init__(self) -> None:
        self._ids: list[StreamId] = []
        self._fields: dict[StreamId, dict[str, str]] = {}
        self._last: StreamId = (0, 0)
        self._groups: dict[str, Group] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, fields: dict[str, str], now: float, maxlen: int | None = None) -> str:
        """Append an entry; with ``maxlen`` drop the oldest beyond it."""
        entry_id = self._next_id(now)
        self._ids.append(entry_id)
        self._fields[entry_id] = dict(fields)
        self._last = entry_id

        if maxlen is not None:
            self._trim(maxlen)
        return format_id(entry_id)

    def delete(self, ids: Iterable[str]) -> int:
        """Remove entries by id; return how many existed."""
        removed = 0
        for entry_id in map(parse_id, ids):
            if self._fields.pop(entry_id, None) is None:
                continue
            del self._ids[bisect_left(self._ids, entry_id)]
            removed += 1
        return removed

    # -- consumer groups ---------------------------------------------------

    def create_group(self, name: str) -> bool:
        """Add a group that starts before the first entry; ``False`` if known."""
        if name in self._groups:
            return False
        self._groups[name] = Group()
        return True

    def read_new(
        self, group_name: str, consumer: str, count: int, now: float
    ) -> list[StreamEntry]:
        """Deliver up to ``count`` entries the group has not delivered yet."""
        group = self._group(group_name)
        start = bisect_right(self._ids, group.last_delivered)
        fresh = self._ids[start : start + count]

        for entry_id in fresh:
            group.pending[entry_id] = Delivery(consumer, now, 1)
        if fresh:
            group.last_delivered = fresh[-1]
        return [self._entry(entry_id) for entry_id in fresh]

    def ack(self, group_name: str, ids: Iterable[str]) -> int:
        """Forget pending entries; return how many were pending."""
        parsed = [parse_id(text) for text in ids]
        group = self._groups.get(group_name)
        if group is None:
            return 0
        return sum(group.pending.pop(entry_id, None) is not None for entry_id in parsed)

    def autoclaim(
        self, group_name: str, consumer: str, min_idle_ms: int, count: int, now: float
    ) -> list[StreamEntry]:
        """Give ``consumer`` up to ``count`` entries idle ``min_idle_ms`` or more."""
        group = self._group(group_name)
        claimed: list[StreamEntry] = []
        for entry_id in sorted(group.pending):
            if len(claimed) == count:
                break
            delivery = group.pending[entry_id]
            if (now - delivery.at) * 1000 < min_idle_ms:
                continue
            if entry_id not in self._fields:
                del group.pending[entry_id]
                continue
            group.pending[entry_id] = Delivery(consumer, now, delivery.count + 1)
            claimed.append(self._entry(entry_id))
        return claimed

    def pending_count(self, group_name: str) -> int:
        """How many entries the group delivered and nobody acked yet."""
        return len(self._group(group_name).pending)

    # -- helpers -----------------------------------------------------------

    def _group(self, name: str) -> Group:
        group = self._groups.get(name)
        if group is None:
            raise refused(
                f"consumer group {name!r} does not exist on this stream; "
                "create it with xgroup_create first"
            )
        return group

    def _next_id(self, now: float) -> StreamId:
        ms = int(now * 1000)
        last_ms, last_seq = self._last
        if ms > last_ms:
            return ms, 0
        return last_ms, last_seq + 1

    def _trim(self, maxlen: int) -> None:
        excess = len(self._ids) - maxlen
        if excess <= 0:
            return
        for entry_id in self._ids[:excess]:
            del self._fields[entry_id]
        del self._ids[:excess]

    def _entry(self, entry_id: StreamId) -> StreamEntry:
        return format_id(entry_id), dict(self._fields[entry_id])
