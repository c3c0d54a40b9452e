"""The dispatch queue's keys, its score arithmetic and its atomic scripts.

Each agent type has a ready set: a sorted set of queued job ids whose score
puts the next job first. A score is a priority band plus the enqueue time::

    score = (MAX_PRIORITY - priority) * BAND + queued_at_ms

so priority 9 sorts before priority 0 and, within one priority, the oldest
job sorts first. ``BAND`` (10^13 ms, about 317 years) is wider than any
epoch time in milliseconds, so bands never overlap; the largest score,
about 10^14, is far inside the 2^53 that a double holds exactly.

The score is computed from the job's stored ``priority`` and ``queued_at``
only, so rebuilding a ready set from the database gives the same order, and
re-adding a job is harmless. All keys share the hash tag ``{queue}``, so the
scripts run on Redis Cluster too. Each script has a Python twin for the
in-memory store; the two must stay equivalent.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentos.state.base import Script

if TYPE_CHECKING:
    from agentos.state.keyspace import Keyspace

MAX_PRIORITY = 9
BAND = 10**13

PAUSED_KEY = "{queue}:paused"
"""JSON of who paused dispatch, when and why; absent while dispatch runs."""

TYPES_KEY = "{queue}:types"
"""Hash of every agent type that ever had a ready set (field -> "1")."""

BUILT_KEY = "{queue}:built"
"""Present once the ready sets were rebuilt from the database."""


def ready_key(agent_type: str) -> str:
    """The ready set of ``agent_type``."""
    return f"{{queue}}:ready:{agent_type}"


def score(priority: int, queued_at: datetime) -> float:
    """The dispatch score of a job: lower is dispatched sooner."""
    queued_ms = int(queued_at.timestamp() * 1000)
    return float((MAX_PRIORITY - priority) * BAND + queued_ms)


def priority_of(value: float) -> int:
    """The priority that a score was made from."""
    return MAX_PRIORITY - int(value // BAND)


def queued_ms_of(value: float) -> int:
    """The enqueue time, in epoch milliseconds, that a score was made from."""
    return int(value % BAND)


def band_bounds() -> list[int]:
    """Inclusive score bounds of each priority from 9 down to 0, flattened."""
    bounds = []
    for priority in range(MAX_PRIORITY, -1, -1):
        low = (MAX_PRIORITY - priority) * BAND
        bounds += [low, low + BAND - 1]
    return bounds


def _redis_score(value: float) -> str:
    # Redis replies with scores printed as %.17g; the twins answer alike.
    return f"{value:.17g}"


# -- enqueue: add to the ready set and remember the agent type ---------------

_ENQUEUE_LUA = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[3], '1')
return 1
"""


def _enqueue(view: Keyspace, keys: list[str], args: list[str], now: float) -> int:
    view.zadd(keys[0], {args[0]: float(args[1])})
    view.hset(keys[1], {args[2]: "1"})
    return 1


ENQUEUE = Script("queue.enqueue", _ENQUEUE_LUA, _enqueue)
"""``KEYS`` ready set, types hash; ``ARGV`` job id, score, agent type."""


# -- claim: pop the head of a ready set unless dispatch is paused ------------

_CLAIM_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
local head = redis.call('ZPOPMIN', KEYS[2])
if #head == 0 then
    return false
end
return head
"""


def _claim(view: Keyspace, keys: list[str], args: list[str], now: float) -> Any:
    if view.exists(keys[0]):
        return 0
    head = view.zrange(keys[1], 0, 0)
    if not head:
        return None
    member, value = head[0]
    view.zrem(keys[1], member)
    return [member, _redis_score(value)]


CLAIM = Script("queue.claim", _CLAIM_LUA, _claim)
"""``KEYS`` paused flag, ready set. Returns 0 when paused, ``None`` when
empty, else ``[job id, score]`` of the popped head."""


# -- rescore: move a job that is still waiting to its new place --------------

_RESCORE_LUA = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
    return 1
end
return 0
"""


def _rescore(view: Keyspace, keys: list[str], args: list[str], now: float) -> int:
    if view.zscore(keys[0], args[0]) is None:
        return 0
    view.zadd(keys[0], {args[0]: float(args[1])})
    return 1


RESCORE = Script("queue.rescore", _RESCORE_LUA, _rescore)
"""``KEYS`` ready set; ``ARGV`` job id, new score. 1 if the job was waiting.

A job that a worker popped meanwhile is not put back: only members still in
the set move, so a re-prioritization never resurrects a claimed job."""


# -- depth: how many jobs wait in each ready set, per priority ----------------

_DEPTH_LUA = """
local counts = {}
for _, key in ipairs(KEYS) do
    for i = 1, #ARGV, 2 do
        counts[#counts + 1] = redis.call('ZCOUNT', key, ARGV[i], ARGV[i + 1])
    end
end
return counts
"""


def _depth(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[int]:
    bounds = [int(arg) for arg in args]
    return [
        view.zcount(key, bounds[i], bounds[i + 1])
        for key in keys
        for i in range(0, len(bounds), 2)
    ]


DEPTH = Script("queue.depth", _DEPTH_LUA, _depth)
"""``KEYS`` ready sets; ``ARGV`` ``band_bounds()``. Counts, set by set, one
per priority from 9 down to 0."""
