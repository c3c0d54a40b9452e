"""Rate limiting: quotas from ``policies/rate_limits.yaml``, spent atomically.

* ``algorithms``: the arithmetic, free of I/O (sliding window, token bucket,
  fixed window);
* ``scripts``: the one atomic step that spends several quotas, in Lua for
  Redis and in Python for the memory state;
* ``policy``: the rate classes and tiers of the policy file;
* ``headers``: the ``RateLimit-Policy`` and ``RateLimit`` fields;
* ``limiter``: the adapter the pipeline calls (``RateLimiter``);
* ``middleware``: the tiers of the user API and the admin reads.
"""

from __future__ import annotations

from agentos.pipeline.ratelimit.algorithms import Algorithm, Quota, Verdict
from agentos.pipeline.ratelimit.limiter import UNLIMITED, RateDecision, RateLimiter
from agentos.pipeline.ratelimit.policy import RateLimitPolicy, load_rate_limits

__all__ = [
    "UNLIMITED",
    "Algorithm",
    "Quota",
    "RateDecision",
    "RateLimitPolicy",
    "RateLimiter",
    "Verdict",
    "load_rate_limits",
]
