"""Recording the service's figures, reading them back, and merging workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentos import metrics


@pytest.fixture(autouse=True)
def fresh_figures() -> Iterator[None]:
    """Each test starts from zeroed figures in this process."""
    metrics.reset()
    yield
    metrics.reset()


def test_recorded_requests_show_in_figures_and_exposition() -> None:
    """A recorded request is counted per route, method and status class."""
    metrics.record_request("/api/jobs", "GET", 200, 0.002)
    metrics.record_request("/api/jobs", "GET", 500, 0.2)

    figures = metrics.figures()
    body, content_type = metrics.exposition()

    (endpoint,) = figures["endpoints"]
    assert (endpoint["requests"], endpoint["rate_5xx"]) == (2, 0.5)
    assert endpoint["throughput_rps"] > 0
    assert content_type.startswith("text/plain")
    text = body.decode()
    assert (
        'agentos_http_requests_total{method="GET",route="/api/jobs",status="500"} 1.0'
        in text
    )
    assert (
        'agentos_http_error_ratio{class="5xx",method="GET",route="/api/jobs"} 0.5'
        in text
    )


def test_ssot_reads_give_the_hit_ratio_gauge() -> None:
    """Hits and misses of the SSOT cache become a hit ratio in /metrics."""
    for _ in range(3):
        metrics.record_ssot(True, 0.0005)
    metrics.record_ssot(False, 0.02)
    metrics.record_collection(0.02)

    body, _ = metrics.exposition()

    assert "agentos_ssot_cache_hit_ratio 0.75" in body.decode()
    assert metrics.figures()["ssot"]["collections"] == 1


def test_admin_actions_are_counted_per_outcome() -> None:
    """Each action call counts under its outcome, with its latency."""
    metrics.record_action("queue.pause", "succeeded", 0.01)
    metrics.record_action("queue.pause", "refused", 0.001)

    (action,) = metrics.figures()["actions"]

    assert action["outcomes"] == {"refused": 1, "succeeded": 1}
    assert action["success_rate"] == 0.5
    assert action["latency_ms"]["p99"] is not None


def test_reset_zeroes_every_figure() -> None:
    """After reset nothing recorded before is shown."""
    metrics.record_request("/", "GET", 200, 0.001)

    metrics.reset()

    assert metrics.figures()["endpoints"] == []


WORKER = """
import sys
from agentos import metrics
for _ in range(int(sys.argv[1])):
    metrics.record_request("/api/admin/ssot", "GET", 200, 0.001)
metrics.record_ssot(sys.argv[1] != "1", 0.001)
"""

READER = """
import json
from agentos import metrics
print(json.dumps(metrics.figures()))
"""


def _python(code: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    return done.stdout


def test_figures_are_merged_over_worker_processes(tmp_path: Path) -> None:
    """Counts written by separate worker processes are summed when read."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {**os.environ, metrics.MULTIPROC_ENV: str(folder)}

    _python(WORKER, "3", env=env)
    _python(WORKER, "1", env=env)
    figures = json.loads(_python(READER, env=env))

    (endpoint,) = figures["endpoints"]
    assert endpoint["requests"] == 4
    assert (figures["ssot"]["hits"], figures["ssot"]["misses"]) == (1, 1)


def test_preparing_multiprocess_mode_empties_the_folder(tmp_path: Path) -> None:
    """Files from an earlier run are removed, so they do not count twice."""
    stale = tmp_path / "metrics" / "counter_123.db"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    saved = os.environ.get(metrics.MULTIPROC_ENV)

    try:
        folder = metrics.prepare_multiprocess(tmp_path)
        assert os.environ[metrics.MULTIPROC_ENV] == str(folder)
    finally:
        if saved is None:
            os.environ.pop(metrics.MULTIPROC_ENV, None)
        else:
            os.environ[metrics.MULTIPROC_ENV] = saved

    assert folder == (tmp_path / "metrics").resolve()
    assert list(folder.iterdir()) == []


def test_frequent_reads_keep_at_most_one_reading_a_second() -> None:
    """Reading the figures in a tight loop does not grow the rate's memory."""
    metrics.record_request("/", "GET", 200, 0.001)

    for _ in range(500):
        metrics.figures()

    assert len(metrics._throughput.readings) <= 2
