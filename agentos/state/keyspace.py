"""The in-memory keyspace: Redis's data types as plain synchronous methods.

``MemoryState`` keeps all its data in one ``Keyspace``. Nothing here awaits,
so each method, and each script twin that calls several of them, runs to its
end before any other task sees the data: that is what makes a Python twin as
atomic as its Lua body. Twins receive the keyspace itself as their view.

The semantics follow Redis wherever the contract suite can observe them: a
plain ``set`` drops an earlier expiry while ``incr`` and ``hset`` keep it; a
hash or sorted set disappears with its last member; a key used as the wrong
type is refused with ``errors.AgentOSError``.

Expiry is lazy, as in Redis: a key past its deadline is dropped when
something touches it. Keys that nobody touches again would stay forever, so
each write that stores a key also pops a bounded number of passed deadlines
from a heap. The heap keeps stale entries for keys whose expiry changed
since; they are skipped when popped, and leave once their old deadline passes.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable
from typing import TypeVar

from agentos.state.base import Value, encode, refused, ttl_ms
from agentos.state.memory_streams import Stream

Clock = Callable[[], float]
SWEEP_LIMIT = 100
"""Most expired keys one write drops: keeps each write's cost bounded."""

_INTEGER = re.compile(rb"-?[0-9]{1,19}")
_INT64 = 2**63


class Hash(dict[str, bytes]):
    """The fields of one hash."""


class SortedSet(dict[str, float]):
    """One sorted set, member to score; the order is computed when read."""


Stored = bytes | Hash | SortedSet | Stream
T = TypeVar("T", bytes, Hash, SortedSet, Stream)

_TYPE_NAMES = {bytes: "string", Hash: "hash", SortedSet: "sorted set", Stream: "stream"}


def _integer(raw: bytes | None, where: str) -> int:
    if raw is None:
        return 0
    if not _INTEGER.fullmatch(raw) or not -_INT64 <= int(raw) < _INT64:
        raise refused(f"{where} holds {raw!r}, which is not a 64-bit integer")
    return int(raw)


def _checked(value: int, where: str) -> int:
    if not -_INT64 <= value < _INT64:
        raise refused(f"incrementing {where} would overflow a 64-bit integer")
    return value


def _index_slice(length: int, start: int, stop: int) -> slice:
    # Redis ranges: negative indexes count from the end, stop is inclusive.
    if start < 0:
        start = max(length + start, 0)
    if stop < 0:
        stop = length + stop
    if stop < start:
        return slice(0, 0)
    return slice(start, stop + 1)


class Keyspace:
    """Keys with expiry holding strings, hashes, sorted sets and streams."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._values: dict[str, Stored] = {}
        self._deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def now(self) -> float:
        """The keyspace's clock, in seconds."""
        return self.clock()

    def __len__(self) -> int:
        """Keys held, counting expired ones that were not dropped yet."""
        return len(self._values)

    # -- storage -----------------------------------------------------------

    def _lookup(self, key: str) -> Stored | None:
        deadline = self._deadlines.get(key)
        if deadline is not None and deadline <= self.clock():
            self._drop(key)
            return None
        return self._values.get(key)

    def _typed(self, key: str, kind: type[T]) -> T | None:
        value = self._lookup(key)
        if value is None or isinstance(value, kind):
            return value
        found, wanted = _TYPE_NAMES[type(value)], _TYPE_NAMES[kind]
        raise refused(f"key {key!r} holds a {found}, not a {wanted}")

    def _writable(self, key: str, kind: type[T]) -> T:
        value = self._typed(key, kind)
        if value is not None:
            return value
        fresh = kind()
        self._store(key, fresh)
        return fresh

    def _store(self, key: str, value: Stored) -> None:
        self._values[key] = value
        self._sweep()

    def _drop(self, key: str) -> None:
        self._values.pop(key, None)
        self._deadlines.pop(key, None)

    def _sweep(self) -> None:
        now = self.clock()
        for _ in range(SWEEP_LIMIT):
            if not self._heap or self._heap[0][0] > now:
                return
            deadline, key = heapq.heappop(self._heap)
            if self._deadlines.get(key) == deadline:
                self._drop(key)

    def _expire_in(self, key: str, ms: int) -> None:
        deadline = self.clock() + ms / 1000
        self._deadlines[key] = deadline
        heapq.heappush(self._heap, (deadline, key))

    # -- keys --------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The string at ``key``."""
        return self._typed(key, bytes)

    def set(
        self, key: str, value: Value, ttl: float | None = None, nx: bool = False
    ) -> bool:
        """Store a string; ``nx`` only if absent. Drops any earlier expiry."""
        data, ms = encode(value), None if ttl is None else ttl_ms(ttl)
        if nx and self._lookup(key) is not None:
            return False

        self._deadlines.pop(key, None)
        self._store(key, data)
        if ms is not None:
            self._expire_in(key, ms)
        return True

    def delete(self, *keys: str) -> int:
        """Remove ``keys``; return how many existed."""
        removed = 0
        for key in keys:
            if self._lookup(key) is not None:
                self._drop(key)
                removed += 1
        return removed

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds anything."""
        return self._lookup(key) is not None

    def incr(self, key: str, amount: int = 1) -> int:
        """Add ``amount`` to the integer at ``key`` (0 when absent); keep its TTL."""
        value = _checked(_integer(self.get(key), f"key {key!r}") + amount, key)
        self._store(key, str(value).encode())
        return value

    def expire(self, key: str, ttl: float) -> bool:
        """Expire ``key`` ``ttl`` seconds from now; ``False`` if it is absent."""
        ms = ttl_ms(ttl)
        if self._lookup(key) is None:
            return False
        self._expire_in(key, ms)
        return True

    def ttl(self, key: str) -> float | None:
        """Seconds left, or ``None`` for a missing key or one without expiry."""
        if self._lookup(key) is None:
            return None
        deadline = self._deadlines.get(key)
        return None if deadline is None else deadline - self.clock()

    def keys(self, prefix: str) -> list[str]:
        """Every live key that starts with ``prefix``."""
        matching = [key for key in self._values if key.startswith(prefix)]
        return [key for key in matching if self._lookup(key) is not None]

    # -- hashes ------------------------------------------------------------

    def hget(self, key: str, field: str) -> bytes | None:
        """One field of the hash at ``key``."""
        fields = self._typed(key, Hash)
        return None if fields is None else fields.get(field)

    def hgetall(self, key: str) -> dict[str, bytes]:
        """Every field of the hash at ``key``."""
        return dict(self._typed(key, Hash) or {})

    def hset(self, key: str, mapping: dict[str, Value]) -> int:
        """Set fields; return how many were new."""
        encoded = {field: encode(value) for field, value in mapping.items()}
        if not encoded:
            return 0
        fields = self._writable(key, Hash)
        added = len(encoded.keys() - fields.keys())
        fields.update(encoded)
        return added

    def hdel(self, key: str, *names: str) -> int:
        """Remove fields; return how many existed. An emptied hash goes."""
        fields = self._typed(key, Hash)
        if fields is None:
            return 0
        removed = sum(fields.pop(name, None) is not None for name in set(names))
        if not fields:
            self._drop(key)
        return removed

    def hincrby(self, key: str, field: str, amount: int = 1) -> int:
        """Add ``amount`` to an integer field (0 when absent)."""
        where = f"field {field!r} of {key!r}"
        value = _checked(_integer(self.hget(key, field), where) + amount, where)
        self.hset(key, {field: value})
        return value

    # -- sorted sets -------------------------------------------------------

    def zadd(self, key: str, mapping: dict[str, float]) -> int:
        """Add members or update their scores; return how many were new."""
        scores = {member: float(score) for member, score in mapping.items()}
        if any(math.isnan(score) for score in scores.values()):
            raise refused("a sorted-set score must be a number, not NaN")
        if not scores:
            return 0
        members = self._writable(key, SortedSet)
        added = len(scores.keys() - members.keys())
        members.update(scores)
        return added

    def zrem(self, key: str, *names: str) -> int:
        """Remove members; return how many existed. An emptied set goes."""
        members = self._typed(key, SortedSet)
        if members is None:
            return 0
        removed = sum(members.pop(name, None) is not None for name in set(names))
        if not members:
            self._drop(key)
        return removed

    def zpopmin(self, key: str, count: int = 1) -> list[tuple[str, float]]:
        """Remove and return the ``count`` lowest-scored members with scores."""
        lowest = self.zrange(key, 0, count - 1) if count > 0 else []
        self.zrem(key, *(member for member, _ in lowest))
        return lowest

    def zscore(self, key: str, member: str) -> float | None:
        """The score of ``member``, or ``None``."""
        members = self._typed(key, SortedSet)
        return None if members is None else members.get(member)

    def zcard(self, key: str) -> int:
        """How many members the set has."""
        return len(self._typed(key, SortedSet) or ())

    def zrange(
        self, key: str, start: int = 0, stop: int = -1
    ) -> list[tuple[str, float]]:
        """Members with scores by rank, ``stop`` inclusive, ties by member."""
        ordered = self._ordered(key)
        return ordered[_index_slice(len(ordered), start, stop)]

    def zrangebyscore(
        self, key: str, minimum: float, maximum: float
    ) -> list[tuple[str, float]]:
        """Members with scores between ``minimum`` and ``maximum`` inclusive."""
        return [pair for pair in self._ordered(key) if minimum <= pair[1] <= maximum]

    def zremrangebyscore(self, key: str, minimum: float, maximum: float) -> int:
        """Remove the members scored between the bounds; return how many."""
        doomed = [member for member, _ in self.zrangebyscore(key, minimum, maximum)]
        return self.zrem(key, *doomed)

    def zcount(self, key: str, minimum: float, maximum: float) -> int:
        """How many members are scored between the bounds inclusive."""
        return len(self.zrangebyscore(key, minimum, maximum))

    def _ordered(self, key: str) -> list[tuple[str, float]]:
        # Sorting on read costs O(n log n); the embedded default keeps sets of
        # hundreds of members (rate windows, schedules), where that is cheap.
        members: dict[str, float] = self._typed(key, SortedSet) or {}
        return sorted(members.items(), key=lambda pair: (pair[1], pair[0]))

    # -- streams -----------------------------------------------------------

    def stream(self, key: str, *, create: bool = False) -> Stream | None:
        """The stream at ``key``; with ``create`` an empty one if absent."""
        if create:
            return self._writable(key, Stream)
        return self._typed(key, Stream)
