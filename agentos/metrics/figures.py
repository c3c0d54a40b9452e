"""Figures from raw metric families: plain functions, no I/O, no clock.

The recorder (``agentos.metrics``) keeps counters and histograms; this
module reads their samples and answers the questions an operator asks:
how many requests each endpoint had, how fast (p50, p95, p99), how many
failed, how many per second, and how often the SSOT cache hit.

Percentiles follow Prometheus's ``histogram_quantile``: find the bucket
where the rank falls and interpolate linearly inside it. A rank in the
``+Inf`` bucket reports the highest finite bound, because nothing better is
known. An empty histogram has no percentile (``None``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

QUANTILES = (0.5, 0.95, 0.99)
SUCCESSES = ("succeeded", "accepted")
"""The outcomes of an admin action call that count as success: it did its
work, or was accepted to run in the background (the audit record's words)."""

Figures = dict[str, Any]
"""``{"since", "endpoints": [...], "ssot": {...}, "actions": [...]}``."""

Buckets = list[tuple[float, float]]
"""Upper bound and cumulative count of each bucket, ``+Inf`` last."""

Key = tuple[str, ...]
RateFn = Callable[[dict[tuple[str, str], float]], dict[tuple[str, str], float]]


def estimate_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile (0..1) of a histogram, interpolated within its bucket."""
    ordered = sorted(buckets)
    total = ordered[-1][1] if ordered else 0.0
    if total <= 0:
        return None

    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank and count > lower_count:
            if math.isinf(bound):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def percentiles_ms(buckets: Buckets) -> dict[str, float | None]:
    """``{"p50": ms, "p95": ms, "p99": ms}`` of a histogram in seconds."""
    shown: dict[str, float | None] = {}
    for q in QUANTILES:
        value = estimate_quantile(q, buckets)
        shown[f"p{round(q * 100)}"] = None if value is None else round(value * 1000, 3)
    return shown


def counter_values(
    families: Iterable[Metric], name: str
) -> list[tuple[dict[str, str], float]]:
    """Labels and value of every ``<name>_total`` sample."""
    wanted = f"{name}_total"
    return [
        (sample.labels, sample.value)
        for family in families
        for sample in family.samples
        if sample.name == wanted
    ]


def histograms(
    families: Iterable[Metric], name: str, labels: Sequence[str]
) -> dict[Key, Buckets]:
    """The buckets of histogram ``name``, keyed by the values of ``labels``."""
    wanted = f"{name}_bucket"
    found: dict[Key, Buckets] = defaultdict(list)
    for family in families:
        for sample in family.samples:
            if sample.name != wanted:
                continue
            key = tuple(sample.labels.get(label, "") for label in labels)
            found[key].append((float(sample.labels["le"]), sample.value))
    return dict(found)


def figures_from_families(
    families: Iterable[Metric], *, since: float, rates: RateFn
) -> Figures:
    """Every figure the service shows about itself, as plain data.

    ``since`` is when the figures started (epoch seconds); ``rates`` turns
    each endpoint's request total into requests per second.
    """
    families = list(families)
    return {
        "since": datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endpoints": _endpoints(families, rates),
        "ssot": _ssot(families),
        "actions": _actions(families),
    }


def _endpoints(families: list[Metric], rates: RateFn) -> list[dict[str, Any]]:
    totals: dict[tuple[str, str], float] = defaultdict(float)
    by_class: dict[tuple[str, str, str], float] = defaultdict(float)
    for labels, value in counter_values(families, "agentos_http_requests"):
        key = (labels["route"], labels["method"])
        totals[key] += value
        by_class[(*key, labels["status"][:1] + "xx")] += value

    latency = histograms(
        families, "agentos_http_request_duration_seconds", ["route", "method"]
    )
    per_second = rates(dict(totals))
    return [
        {
            "route": route,
            "method": method,
            "requests": int(count),
            "rate_4xx": _ratio(by_class[(route, method, "4xx")], count),
            "rate_5xx": _ratio(by_class[(route, method, "5xx")], count),
            "throughput_rps": round(per_second.get((route, method), 0.0), 3),
            "latency_ms": percentiles_ms(latency.get((route, method), [])),
        }
        for (route, method), count in sorted(totals.items())
    ]


def _ssot(families: list[Metric]) -> dict[str, Any]:
    reads = {
        labels["result"]: value
        for labels, value in counter_values(families, "agentos_ssot_reads")
    }
    hits, misses = reads.get("hit", 0.0), reads.get("miss", 0.0)
    collections = histograms(families, "agentos_ssot_collection_duration_seconds", [])
    buckets = collections.get((), [])
    return {
        "reads": int(hits + misses),
        "hits": int(hits),
        "misses": int(misses),
        "hit_rate": _ratio(hits, hits + misses),
        "collections": int(max((count for _, count in buckets), default=0)),
        "collection_ms": percentiles_ms(buckets),
    }


def _actions(families: list[Metric]) -> list[dict[str, Any]]:
    outcomes: dict[str, dict[str, int]] = defaultdict(dict)
    for labels, value in counter_values(families, "agentos_admin_actions"):
        outcomes[labels["action"]][labels["outcome"]] = int(value)

    latency = histograms(families, "agentos_admin_action_duration_seconds", ["action"])
    shown = []
    for action, counts in sorted(outcomes.items()):
        calls = sum(counts.values())
        shown.append(
            {
                "action": action,
                "calls": calls,
                "outcomes": dict(sorted(counts.items())),
                "success_rate": _ratio(_successes(counts), calls),
                "latency_ms": percentiles_ms(latency.get((action,), [])),
            }
        )
    return shown


def _successes(outcomes: dict[str, int]) -> int:
    return sum(outcomes.get(outcome, 0) for outcome in SUCCESSES)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def derived_families(figures: Figures) -> list[Metric]:
    """Gauges for ``/metrics`` that show the figures a plain scrape lacks."""
    latency = GaugeMetricFamily(
        "agentos_http_latency_seconds", "Estimated latency percentile per endpoint.",
        labels=["route", "method", "quantile"],
    )
    errors = GaugeMetricFamily(
        "agentos_http_error_ratio", "Share of answers with a 4xx or 5xx status.",
        labels=["route", "method", "class"],
    )
    throughput = GaugeMetricFamily(
        "agentos_http_throughput_rps", "Requests per second over the last minute.",
        labels=["route", "method"],
    )
    for endpoint in figures["endpoints"]:
        key = [endpoint["route"], endpoint["method"]]
        _add_percentiles(latency, key, endpoint["latency_ms"])
        for status_class in ("4xx", "5xx"):
            ratio = endpoint[f"rate_{status_class}"] or 0.0
            errors.add_metric([*key, status_class], ratio)
        throughput.add_metric(key, endpoint["throughput_rps"])

    return [latency, errors, throughput, *_ssot_families(figures["ssot"]),
            *_action_families(figures["actions"])]


def _ssot_families(ssot: dict[str, Any]) -> list[Metric]:
    hit_rate = GaugeMetricFamily(
        "agentos_ssot_cache_hit_ratio", "Share of SSOT reads answered from the cache."
    )
    hit_rate.add_metric([], ssot["hit_rate"] or 0.0)
    collection = GaugeMetricFamily(
        "agentos_ssot_collection_latency_seconds",
        "Estimated percentile of the time to collect the SSOT document.",
        labels=["quantile"],
    )
    _add_percentiles(collection, [], ssot["collection_ms"])
    return [hit_rate, collection]


def _action_families(actions: list[dict[str, Any]]) -> list[Metric]:
    latency = GaugeMetricFamily(
        "agentos_admin_action_latency_seconds",
        "Estimated latency percentile per admin action.",
        labels=["action", "quantile"],
    )
    success = GaugeMetricFamily(
        "agentos_admin_action_success_ratio",
        "Share of an action's calls that did their work.",
        labels=["action"],
    )
    for action in actions:
        _add_percentiles(latency, [action["action"]], action["latency_ms"])
        success.add_metric([action["action"]], action["success_rate"] or 0.0)
    return [latency, success]


def _add_percentiles(
    family: GaugeMetricFamily, key: list[str], shown: dict[str, Any]
) -> None:
    for q in QUANTILES:
        value = shown[f"p{round(q * 100)}"]
        if value is not None:
            family.add_metric([*key, str(q)], value / 1000)
