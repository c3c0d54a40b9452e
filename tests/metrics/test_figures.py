"""Figures from metric families: percentiles, rates and the cache hit rate."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from agentos.metrics.figures import estimate_quantile, figures_from_families

BUCKETS = [(0.01, 50.0), (0.1, 90.0), (1.0, 100.0), (math.inf, 100.0)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        pytest.param(0.5, 0.01, id="p50-at-the-first-bound"),
        pytest.param(0.25, 0.005, id="p25-halfway-into-the-first-bucket"),
        pytest.param(0.7, 0.055, id="p70-halfway-into-the-second-bucket"),
        pytest.param(0.95, 0.55, id="p95-halfway-into-the-third-bucket"),
    ],
)
def test_quantile_is_interpolated_inside_its_bucket(q: float, expected: float) -> None:
    """The rank's bucket is found and the value interpolated linearly in it."""

    assert estimate_quantile(q, BUCKETS) == pytest.approx(expected)


def test_quantile_in_the_infinite_bucket_reports_the_highest_bound() -> None:
    """Observations past the last finite bound report that bound, not infinity."""
    buckets = [(0.1, 1.0), (1.0, 2.0), (math.inf, 10.0)]

    assert estimate_quantile(0.99, buckets) == 1.0


def test_empty_histogram_has_no_quantile() -> None:
    """No observation means no percentile, rather than a made-up zero."""

    assert estimate_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert estimate_quantile(0.5, []) is None


def _families() -> list:
    registry = CollectorRegistry()
    endpoint = ["route", "method"]
    requests = Counter(
        "agentos_http_requests", "", [*endpoint, "status"], registry=registry
    )
    latency = Histogram(
        "agentos_http_request_duration_seconds", "", endpoint,
        buckets=(0.001, 0.01, 0.1), registry=registry,
    )
    reads = Counter("agentos_ssot_reads", "", ["result"], registry=registry)
    actions = Counter(
        "agentos_admin_actions", "", ["action", "outcome"], registry=registry
    )

    for status, count in (("200", 6), ("404", 3), ("503", 1)):
        requests.labels("/api/jobs/<job_id>", "GET", status).inc(count)
    for _ in range(10):
        latency.labels("/api/jobs/<job_id>", "GET").observe(0.005)
    reads.labels("hit").inc(19)
    reads.labels("miss").inc(1)
    actions.labels("job.cancel", "succeeded").inc(2)
    actions.labels("job.cancel", "accepted").inc(1)
    actions.labels("job.cancel", "refused").inc(1)
    return list(registry.collect())


def test_endpoint_figures_count_requests_and_error_shares() -> None:
    """Per endpoint: total requests, 4xx and 5xx shares, latency percentiles."""

    figures = figures_from_families(_families(), since=0, rates=lambda t: t)

    (endpoint,) = figures["endpoints"]
    assert endpoint["route"] == "/api/jobs/<job_id>"
    assert endpoint["requests"] == 10
    assert endpoint["rate_4xx"] == 0.3
    assert endpoint["rate_5xx"] == 0.1
    # All ten fall in (1 ms, 10 ms]: rank 5 of 10 lies halfway, at 5.5 ms.
    assert endpoint["latency_ms"]["p50"] == pytest.approx(5.5)
    assert endpoint["throughput_rps"] == 10


def test_cache_hit_rate_and_action_success_rate() -> None:
    """The SSOT hit rate is hits over reads; success is succeeded or accepted."""

    figures = figures_from_families(_families(), since=0, rates=lambda t: t)

    assert figures["ssot"]["hit_rate"] == 0.95
    (action,) = figures["actions"]
    assert action["calls"] == 4
    assert action["outcomes"] == {"accepted": 1, "refused": 1, "succeeded": 2}
    assert action["success_rate"] == 0.75
