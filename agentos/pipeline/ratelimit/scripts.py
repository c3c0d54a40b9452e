"""One atomic step that spends several quotas at once, in Lua and in Python.

``SPEND`` checks every quota of a call (an admin action's tier and its rate
class, say) and counts the call against all of them only if all of them let
it through: a call refused by one quota spends nothing anywhere. It is one
round trip on Redis and one uninterrupted function on the memory state.

Arguments. ``KEYS[i]`` holds the state of quota i. ``ARGV`` is the time in
milliseconds (empty: the Redis server's clock, ``TIME``; the memory state's
clock for the twin), a member name unique to this call (the sliding log's
entry), then four values per quota: algorithm, limit, burst, window in ms.

Reply: ``[spent, allowed_1, remaining_1, reset_ms_1, allowed_2, ...]``
where ``spent`` is 1 when the call was counted.

Stored state, one key per quota and caller, expiring when it no longer
matters: a sorted set of call times (sliding window), a hash with
``tokens`` and ``stamp`` (token bucket), a hash with ``window`` and
``count`` (fixed window). Numbers are written with fixed decimals on both
sides so that Lua and Python read back the same values.

The Lua body repeats the arithmetic of ``algorithms``, step for step; the
contract tests run both with the same explicit times and expect the same
verdicts as the pure functions.

Known shortcoming: the memory state sorts a sorted set whenever it reads
one, so a call against a full sliding log costs time in proportion to the
log: about 0.04 ms at the ``user`` tier's 117 entries and 0.14 ms at
``admin_read``'s 583 (Redis keeps a skip list and does not slow down). It
matters only for a busy embedded deployment, which can give those tiers
``algorithm: token_bucket``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agentos.pipeline.ratelimit.algorithms import (
    Algorithm,
    Quota,
    Verdict,
    bucket_full_in_ms,
    fixed_window,
    sliding_window,
    token_bucket,
)
from agentos.state.base import Script

if TYPE_CHECKING:
    from agentos.state.keyspace import Keyspace

ARGS_PER_QUOTA = 4

_Commit = Callable[[], None]
"""Writes a quota's new state; run only when every quota let the call through."""

_SPEND_LUA = """
local now = tonumber(ARGV[1])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
end
now = tonumber(string.format('%.3f', now))
local member = ARGV[2]
local function fmt3(x) return string.format('%.3f', x) end

local function sliding(key, cap, window)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt3(now - window))
  local count = redis.call('ZCARD', key)
  local oldest = now
  if count > 0 then
    oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  end
  if count < cap then
    local commit = function()
      redis.call('ZADD', key, fmt3(now), member)
      redis.call('PEXPIRE', key, window)
    end
    return 1, cap - count - 1, math.ceil(oldest + window - now), commit
  end
  return 0, 0, math.ceil(oldest + window - now), nil
end

local function bucket(key, limit, cap, window)
  local rate = limit / window
  local level = cap
  local stored = redis.call('HMGET', key, 'tokens', 'stamp')
  local tokens, stamp = tonumber(stored[1]), tonumber(stored[2])
  if tokens and stamp then
    level = math.min(level, tokens + math.max(0, now - stamp) * rate)
  end
  if level >= 1 then
    level = level - 1
    local next_unit = (math.floor(level) + 1 - level) / rate
    local commit = function()
      redis.call('HSET', key, 'tokens', string.format('%.6f', level),
                 'stamp', fmt3(now))
      redis.call('PEXPIRE', key, math.max(1, math.ceil((cap - level) / rate)))
    end
    return 1, math.floor(level), math.ceil(next_unit), commit
  end
  return 0, 0, math.ceil((1 - level) / rate), nil
end

local function fixed(key, cap, window)
  local current = math.floor(now / window)
  local stored = redis.call('HMGET', key, 'window', 'count')
  local count = 0
  if tonumber(stored[1]) == current then count = tonumber(stored[2]) or 0 end
  local ends_in = math.ceil((current + 1) * window - now)
  if count < cap then
    local commit = function()
      redis.call('HSET', key, 'window', string.format('%d', current),
                 'count', count + 1)
      redis.call('PEXPIRE', key, math.max(1, ends_in))
    end
    return 1, cap - count - 1, ends_in, commit
  end
  return 0, 0, ends_in, nil
end

local reply, commits, spent = {0}, {}, 1
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 4
  local algorithm = ARGV[base + 1]
  local limit, burst = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local window = tonumber(ARGV[base + 4])
  local allowed, remaining, reset, commit
  if algorithm == 'token_bucket' then
    allowed, remaining, reset, commit = bucket(KEYS[i], limit, limit + burst, window)
  elseif algorithm == 'fixed_window' then
    allowed, remaining, reset, commit = fixed(KEYS[i], limit + burst, window)
  else
    allowed, remaining, reset, commit = sliding(KEYS[i], limit + burst, window)
  end
  if allowed == 0 then spent = 0 end
  commits[i] = commit
  reply[#reply + 1] = allowed
  reply[#reply + 1] = remaining
  reply[#reply + 1] = reset
end

if spent == 1 then
  for i = 1, #KEYS do commits[i]() end
else
  for i = 1, #KEYS do
    if reply[3 * i - 1] == 1 then reply[3 * i] = reply[3 * i] + 1 end
  end
end
reply[1] = spent
return reply
"""


def spend_args(quotas: list[Quota], member: str, now_ms: float | None) -> list[str]:
    """The ``ARGV`` of ``SPEND`` for ``quotas``."""
    args = ["" if now_ms is None else f"{now_ms:.3f}", member]
    for quota in quotas:
        args += [
            quota.algorithm.value,
            str(quota.limit),
            str(quota.burst),
            str(quota.window_ms),
        ]
    return args


def quotas_from_args(args: list[str]) -> list[Quota]:
    """The quotas that ``spend_args`` wrote, read back (for the Python twin)."""
    quotas: list[Quota] = []
    for start in range(2, len(args), ARGS_PER_QUOTA):
        algorithm, limit, burst, window_ms = args[start : start + ARGS_PER_QUOTA]
        quotas.append(
            Quota(
                name=f"quota{len(quotas) + 1}",
                limit=int(limit),
                burst=int(burst),
                window_seconds=int(window_ms) // 1000,
                algorithm=Algorithm(algorithm),
            )
        )
    return quotas


def _spend(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[int]:
    now_ms = _fixed3(float(args[0]) if args[0] else now * 1000)
    member = args[1]
    steps = [
        _STEPS[quota.algorithm](view, key, quota, now_ms, member)
        for key, quota in zip(keys, quotas_from_args(args), strict=True)
    ]

    spent = all(verdict.allowed for verdict, _ in steps)
    reply = [1 if spent else 0]
    for verdict, commit in steps:
        if spent:
            commit()
        remaining = verdict.remaining
        if verdict.allowed and not spent:
            remaining += 1  # counted nowhere after all
        reply += [1 if verdict.allowed else 0, remaining, verdict.reset_ms]
    return reply


def _sliding_step(
    view: Keyspace, key: str, quota: Quota, now_ms: float, member: str
) -> tuple[Verdict, _Commit]:
    view.zremrangebyscore(key, float("-inf"), _fixed3(now_ms - quota.window_ms))
    count = view.zcard(key)
    oldest = view.zrange(key, 0, 0)[0][1] if count else None
    verdict = sliding_window(count, oldest, now_ms, quota)

    def commit() -> None:
        view.zadd(key, {member: now_ms})
        view.expire(key, quota.window_ms / 1000)

    return verdict, commit


def _bucket_step(
    view: Keyspace, key: str, quota: Quota, now_ms: float, member: str
) -> tuple[Verdict, _Commit]:
    stored = view.hgetall(key)
    tokens, stamp = _number(stored.get("tokens")), _number(stored.get("stamp"))
    verdict, level = token_bucket(tokens, stamp, now_ms, quota)

    def commit() -> None:
        view.hset(key, {"tokens": f"{level:.6f}", "stamp": f"{now_ms:.3f}"})
        view.expire(key, bucket_full_in_ms(level, quota) / 1000)

    return verdict, commit


def _fixed_step(
    view: Keyspace, key: str, quota: Quota, now_ms: float, member: str
) -> tuple[Verdict, _Commit]:
    stored = view.hgetall(key)
    window = _number(stored.get("window"))
    count = _number(stored.get("count")) or 0
    verdict, current, after = fixed_window(
        None if window is None else int(window), int(count), now_ms, quota
    )

    def commit() -> None:
        view.hset(key, {"window": current, "count": after})
        view.expire(key, max(1, verdict.reset_ms) / 1000)

    return verdict, commit


def _fixed3(value: float) -> float:
    # Times are kept to the microsecond, as '%.3f' text in Redis; both sides
    # round the clock that way first, so stored and computed times agree.
    return float(f"{value:.3f}")


def _number(raw: bytes | None) -> float | None:
    return None if raw is None else float(raw)


_STEPS = {
    Algorithm.SLIDING_WINDOW: _sliding_step,
    Algorithm.TOKEN_BUCKET: _bucket_step,
    Algorithm.FIXED_WINDOW: _fixed_step,
}

SPEND = Script("ratelimit.spend", _SPEND_LUA, _spend)
"""Spend one call of every quota given, or of none; see the module docstring."""
