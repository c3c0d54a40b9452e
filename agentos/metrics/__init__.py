"""The service's own figures: requests, admin actions and the SSOT cache.

Three calls feed them, from anywhere in the service::

    record_request(route, method, status, seconds)   # the response middleware
    record_action(action, outcome, seconds)          # the action pipeline
    record_ssot(hit, seconds)                         # each read of the SSOT

and two read them: ``exposition()`` renders the Prometheus text format for
``GET /metrics``, and ``figures()`` returns the same numbers as plain data
for the SSOT ``analytics`` section. Both aggregate over every worker.

Theory of operation. The instruments are prometheus-client counters and
histograms. One process keeps them in memory. With several Sanic workers,
``prepare_multiprocess`` (called once in the main process, before any
worker starts) points ``PROMETHEUS_MULTIPROC_DIR`` at an empty folder under
``data_dir``; each worker then writes its values to memory-mapped files
there, and a read merges every worker's files. Percentiles are estimated
from the histogram buckets the way Prometheus's ``histogram_quantile`` does
(linear within a bucket), so they are exact to a bucket's width, no better.
Throughput is the request rate over the last minute of reads, measured by
the reading process between its own reads.

``reset()`` starts the figures afresh, for tests and the counters-reset
action; in multi-process mode it cannot clear the other workers' files and
says so.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from agentos.metrics.figures import (
    QUANTILES,
    Figures,
    derived_families,
    figures_from_families,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05,
    0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)
THROUGHPUT_WINDOW_SECONDS = 60.0

Totals = dict[tuple[str, str], float]
"""A number per endpoint (route, method)."""

__all__ = [
    "CONTENT_TYPE_LATEST",
    "QUANTILES",
    "exposition",
    "figures",
    "multiprocess_dir",
    "prepare_multiprocess",
    "record_action",
    "record_collection",
    "record_request",
    "record_ssot",
    "reset",
]


class Instruments:
    """The counters and histograms of one process, in a registry of their own."""

    def __init__(self) -> None:
        if multiprocess_dir() is not None:
            # A worker made by fork inherits the parent's in-memory value
            # class; ask again now that the folder is known.
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.started = time.time()
        self._children: dict[tuple[Any, ...], Any] = {}
        self.requests = Counter(
            "agentos_http_requests", "HTTP requests answered, by route and status.",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "agentos_http_request_duration_seconds", "Time to answer a request.",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.actions = Counter(
            "agentos_admin_actions", "Admin actions handled, by outcome.",
            ["action", "outcome"], registry=self.registry,
        )
        self.action_latency = Histogram(
            "agentos_admin_action_duration_seconds", "Time to handle an admin action.",
            ["action"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.ssot_reads = Counter(
            "agentos_ssot_reads", "Reads of the SSOT document, by cache result.",
            ["result"], registry=self.registry,
        )
        self.ssot_read_latency = Histogram(
            "agentos_ssot_read_duration_seconds", "Time to answer an SSOT read.",
            ["result"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.collections = Histogram(
            "agentos_ssot_collection_duration_seconds",
            "Time to collect every section of the SSOT document.",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once per label set.

        prometheus-client checks and joins the labels on every call (a few
        microseconds, twice a request); the label sets here are bounded
        (route patterns, methods, statuses, action names).
        """
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def families(self) -> list[Metric]:
        """Every metric family, merged over all workers in multi-process mode."""
        folder = multiprocess_dir()
        if folder is None:
            return list(self.registry.collect())
        merged = MultiProcessCollector(None, path=str(folder))  # type: ignore[no-untyped-call]
        return list(merged.collect())  # type: ignore[no-untyped-call]


class _Throughput:
    """Request counts remembered between reads, to turn totals into a rate."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.readings: deque[tuple[float, Totals]] = deque()
        self.lock = threading.Lock()

    def rates(self, totals: Totals) -> Totals:
        """Requests per second of each endpoint since the oldest kept reading."""
        now = time.time()
        horizon = now - THROUGHPUT_WINDOW_SECONDS
        with self.lock:
            while self.readings and self.readings[0][0] < horizon:
                self.readings.popleft()
            then, before = self.readings[0] if self.readings else (self.started, {})
            # One reading a second is enough for a rate over a minute, and
            # bounds the memory however often the figures are read.
            if not self.readings or now - self.readings[-1][0] >= 1.0:
                self.readings.append((now, dict(totals)))

        elapsed = max(now - then, 1e-3)
        return {key: (n - before.get(key, 0.0)) / elapsed for key, n in totals.items()}


_instruments: Instruments | None = None
_throughput: _Throughput | None = None
_create_lock = threading.Lock()


def _current() -> Instruments:
    global _instruments, _throughput
    if _instruments is None:
        with _create_lock:
            if _instruments is None:
                _instruments = Instruments()
                _throughput = _Throughput(_instruments.started)
    return _instruments


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request; ``route`` is the route's pattern, not the path."""
    instruments = _current()
    instruments.child(instruments.requests, route, method, str(status)).inc()
    instruments.child(instruments.latency, route, method).observe(seconds)


def record_action(action: str, outcome: str, seconds: float) -> None:
    """Count one admin action call.

    ``outcome`` is the audit record's word for how the call ended:
    ``succeeded``, ``accepted`` (runs in the background), ``refused`` (4xx),
    ``failed`` (5xx), ``replayed`` or ``interrupted``. The success rate in
    the figures is the share of ``succeeded`` and ``accepted``.
    """
    instruments = _current()
    instruments.child(instruments.actions, action, outcome).inc()
    instruments.child(instruments.action_latency, action).observe(seconds)


def record_ssot(hit: bool, seconds: float) -> None:
    """Count one read of the SSOT document and the time it took to answer."""
    result = "hit" if hit else "miss"
    instruments = _current()
    instruments.child(instruments.ssot_reads, result).inc()
    instruments.child(instruments.ssot_read_latency, result).observe(seconds)


def record_collection(seconds: float) -> None:
    """Note how long one collection of the whole SSOT document took."""
    _current().collections.observe(seconds)


def figures() -> Figures:
    """The aggregated figures as plain data (see ``agentos.metrics.figures``)."""
    families = _current().families()
    return _figures(families)


def _figures(families: Iterable[Metric]) -> Figures:
    assert _throughput is not None
    return figures_from_families(
        families, since=_throughput.started, rates=_throughput.rates
    )


def exposition() -> tuple[bytes, str]:
    """The Prometheus text format of every figure, and its content type.

    Besides the raw counters and histograms it carries gauges derived from
    them: latency percentiles, 4xx and 5xx rates, throughput and the SSOT
    hit rate, so that a plain scrape shows them without a query language.
    """
    families = _current().families()
    derived = derived_families(_figures(families))
    return generate_latest(_Fixed([*families, *derived])), CONTENT_TYPE_LATEST


class _Fixed:
    """A collector that yields the families it was made with."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def multiprocess_dir() -> Path | None:
    """The folder of the multi-process files, when that mode is on."""
    folder = os.environ.get(MULTIPROC_ENV)
    return Path(folder) if folder else None


def prepare_multiprocess(data_dir: Path) -> Path:
    """Turn multi-process mode on with an empty folder under ``data_dir``.

    Call it in the main process before any worker starts: the workers
    inherit the environment variable, and files left by an earlier run of
    the service are removed so that they do not count twice.
    """
    folder = (data_dir / "metrics").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def reset() -> None:
    """Start every figure afresh in this process.

    Raises ``RuntimeError`` in multi-process mode, where the other workers'
    files cannot be cleared from here.
    """
    global _instruments, _throughput
    if multiprocess_dir() is not None:
        raise RuntimeError(
            "The figures of several workers cannot be reset from one of them; "
            "restart the service to start them afresh."
        )
    with _create_lock:
        _instruments = None
        _throughput = None

