"""The arithmetic of rate limiting, free of I/O: quotas, verdicts, algorithms.

A ``Quota`` allows ``limit`` calls per ``window_seconds``, plus ``burst``
calls of tolerance on top (the tiers have some, the action classes none).
``capacity`` (limit + burst) is the most a caller may spend at once. Three
algorithms spend it, each a pure function from what is stored and the time
to a ``Verdict``:

* ``sliding_window`` (the default) counts the calls of the trailing window
  exactly, from a log of their times. At most ``capacity`` calls fall in
  any window, wherever it starts.
* ``token_bucket`` holds up to ``capacity`` tokens and refills ``limit``
  of them per window; a call takes one. Bursts up to the capacity, then a
  steady rate.
* ``fixed_window`` counts calls per window aligned to the clock. Cheapest,
  but a caller may spend a whole window's quota at the end of one window
  and again at the start of the next: twice the capacity within moments.

Every time is in milliseconds, as a float, because the Lua twins of these
functions (``agentos.pipeline.ratelimit.scripts``) compute in the Redis
server's milliseconds with the same floating-point steps in the same order;
both sides therefore reach the same verdicts. A verdict's ``reset_ms``
says when the next unit of quota returns: after a refusal, that is when a
retry can pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Algorithm(StrEnum):
    """How a quota is spent; see the module docstring."""

    SLIDING_WINDOW = "sliding_window"
    TOKEN_BUCKET = "token_bucket"
    FIXED_WINDOW = "fixed_window"


@dataclass(frozen=True)
class Quota:
    """``limit`` calls per ``window_seconds``, ``burst`` more at once, by ``name``."""

    name: str
    limit: int
    window_seconds: int
    burst: int = 0
    algorithm: Algorithm = Algorithm.SLIDING_WINDOW

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds < 1 or self.burst < 0:
            raise ValueError(
                f"Quota {self.name!r} needs limit >= 1, window_seconds >= 1 and "
                f"burst >= 0 (got {self.limit}, {self.window_seconds}, {self.burst})."
            )

    @property
    def capacity(self) -> int:
        """The most calls the quota lets through at once."""
        return self.limit + self.burst

    @property
    def window_ms(self) -> int:
        """The window in milliseconds."""
        return self.window_seconds * 1000


def burst_allowance(
    limit: int, window_seconds: int, factor: float, seconds: float
) -> int:
    """Extra calls that let a caller run at ``factor`` times its rate for ``seconds``.

    A caller at twice its rate for 10 seconds spends, in those 10 seconds,
    one rate's worth more than the steady share: for 100 per minute that is
    about 17 calls (100 x 1 x 10 / 60), rounded to the nearest whole call.
    """
    extra = limit * (factor - 1) * seconds / window_seconds
    return max(0, math.floor(extra + 0.5))


@dataclass(frozen=True)
class Verdict:
    """Whether one quota lets a call through, what is left, when more returns."""

    allowed: bool
    remaining: int
    reset_ms: int
    """Milliseconds until the next unit of quota returns; 0 when none is spent."""

    @property
    def reset_seconds(self) -> int:
        """``reset_ms`` in whole seconds, rounded up."""
        return math.ceil(self.reset_ms / 1000)

    @property
    def retry_after_seconds(self) -> int:
        """Seconds to wait before a retry can pass: 0 when allowed, else >= 1."""
        return 0 if self.allowed else max(1, self.reset_seconds)


# -- sliding window --------------------------------------------------------


def sliding_window(
    count: int, oldest_ms: float | None, now_ms: float, quota: Quota
) -> Verdict:
    """The verdict on a call, given the calls already logged in the window.

    ``count`` and ``oldest_ms`` describe the log after dropping every call at
    or before ``now_ms - window``. An allowed call is counted by the caller.
    """
    if count < quota.capacity:
        first = oldest_ms if count and oldest_ms is not None else now_ms
        reset = math.ceil(first + quota.window_ms - now_ms)
        return Verdict(True, quota.capacity - count - 1, reset)

    oldest = now_ms if oldest_ms is None else oldest_ms
    return Verdict(False, 0, math.ceil(oldest + quota.window_ms - now_ms))


# -- token bucket ----------------------------------------------------------


def token_bucket(
    tokens: float | None, stamp_ms: float | None, now_ms: float, quota: Quota
) -> tuple[Verdict, float]:
    """The verdict on a call and the bucket's level afterwards.

    ``tokens`` and ``stamp_ms`` are the level stored and when; ``None`` is a
    bucket never used (or expired), which is full.
    """
    rate = quota.limit / quota.window_ms
    level = float(quota.capacity)
    if tokens is not None and stamp_ms is not None:
        level = min(level, tokens + max(0.0, now_ms - stamp_ms) * rate)

    if level >= 1:
        level = level - 1
        next_unit = (math.floor(level) + 1 - level) / rate
        return Verdict(True, math.floor(level), math.ceil(next_unit)), level

    return Verdict(False, 0, math.ceil((1 - level) / rate)), level


def bucket_full_in_ms(level: float, quota: Quota) -> int:
    """Milliseconds until a bucket at ``level`` is full: its state's lifetime."""
    rate = quota.limit / quota.window_ms
    return max(1, math.ceil((quota.capacity - level) / rate))


# -- fixed window ----------------------------------------------------------


def fixed_window(
    window: int | None, count: int, now_ms: float, quota: Quota
) -> tuple[Verdict, int, int]:
    """The verdict on a call, the current window's index and its count afterwards.

    ``window`` is the index of the window whose ``count`` is stored; a count
    of an earlier window no longer matters.
    """
    current = math.floor(now_ms / quota.window_ms)
    if window != current:
        count = 0
    ends_in = math.ceil((current + 1) * quota.window_ms - now_ms)

    if count < quota.capacity:
        return Verdict(True, quota.capacity - count - 1, ends_in), current, count + 1
    return Verdict(False, 0, ends_in), current, count
