"""The RateLimit-Policy and RateLimit fields, in the IETF draft's syntax."""

from __future__ import annotations

from agentos.pipeline.ratelimit.algorithms import Quota, Verdict
from agentos.pipeline.ratelimit.headers import (
    policy_field,
    rate_limit_headers,
    state_field,
)


def test_each_quota_is_one_list_member_with_its_parameters() -> None:
    """Name as a string; q and w on the policy, r and t on the state."""
    quotas = [Quota("admin_action", 50, 60, burst=8), Quota("high_risk", 10, 60)]
    verdicts = [Verdict(True, 41, 11_200), Verdict(False, 0, 36_001)]

    headers = rate_limit_headers(quotas, verdicts)

    assert headers == {
        "RateLimit-Policy": '"admin_action";q=58;w=60, "high_risk";q=10;w=60',
        "RateLimit": '"admin_action";r=41;t=12, "high_risk";r=0;t=37',
    }


def test_a_quote_in_a_policy_name_is_escaped() -> None:
    """Names are Structured Fields strings: quotes and backslashes escaped."""
    quota = Quota('odd"name\\', 1, 1)

    assert policy_field([quota]) == '"odd\\"name\\\\";q=1;w=1'
    assert state_field([quota], [Verdict(True, 0, 0)]) == '"odd\\"name\\\\";r=0;t=0'


def test_no_quota_means_no_headers() -> None:
    """A decision that checked nothing adds nothing to the answer."""

    assert rate_limit_headers([], []) == {}
