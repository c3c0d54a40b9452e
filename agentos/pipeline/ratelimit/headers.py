"""The ``RateLimit-Policy`` and ``RateLimit`` header fields of a decision.

The fields follow the IETF httpapi draft "RateLimit header fields for HTTP":
each is a Structured Fields list with one item per quota that applied, the
item being the policy's name as a string, with parameters:

    RateLimit-Policy: "admin_action";q=58;w=60, "high_risk";q=10;w=60
    RateLimit: "admin_action";r=41;t=12, "high_risk";r=0;t=37

``q`` is the quota (the most calls at once: limit plus burst), ``w`` the
window in seconds, ``r`` the calls remaining and ``t`` the seconds until
the next unit of quota returns. A 429 adds ``Retry-After`` with the
longest wait among the quotas that refused. Partition keys (``pk``) are
left out: they would only echo who the caller is.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from agentos.pipeline.ratelimit.algorithms import Quota, Verdict

POLICY_HEADER = "RateLimit-Policy"
STATE_HEADER = "RateLimit"


def _name(quota: Quota) -> str:
    escaped = quota.name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def policy_field(quotas: Sequence[Quota]) -> str:
    """The ``RateLimit-Policy`` value for ``quotas``."""
    return _policy_field(tuple(quotas))


@functools.lru_cache(maxsize=256)
def _policy_field(quotas: tuple[Quota, ...]) -> str:
    # The same few sets of quotas answer every call: format each once.
    return ", ".join(
        f"{_name(quota)};q={quota.capacity};w={quota.window_seconds}"
        for quota in quotas
    )


def state_field(quotas: Sequence[Quota], verdicts: Sequence[Verdict]) -> str:
    """The ``RateLimit`` value: what is left of each quota and when more returns."""
    return ", ".join(
        f"{_name(quota)};r={max(0, verdict.remaining)};t={verdict.reset_seconds}"
        for quota, verdict in zip(quotas, verdicts, strict=True)
    )


def rate_limit_headers(
    quotas: Sequence[Quota], verdicts: Sequence[Verdict]
) -> dict[str, str]:
    """Both fields, or none when no quota applied."""
    if not quotas:
        return {}
    return {
        POLICY_HEADER: policy_field(quotas),
        STATE_HEADER: state_field(quotas, verdicts),
    }
