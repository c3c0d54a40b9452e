"""With the state store down, reads pass on the signature and changes get 503."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agentos.config import Settings
from agentos.pipeline.degraded import OutageReport, may_degrade
from tests.fixtures.app import base_settings, free_port, start_app, stop_app


@pytest.mark.parametrize(
    ("method", "degrades"),
    [
        pytest.param("GET", True, id="get"),
        pytest.param("head", True, id="head"),
        pytest.param("POST", False, id="post"),
        pytest.param("DELETE", False, id="delete"),
    ],
)
def test_only_reads_may_pass_unchecked(method: str, degrades: bool) -> None:
    """Safe methods degrade; anything that changes state fails closed."""

    assert may_degrade(method) is degrades


def test_an_outage_is_reported_once_per_interval_with_the_skips_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first skip makes a line; one an interval later counts the five since."""
    now = [0.0]
    report = OutageReport(
        logging.getLogger("agentos.test"),
        "test.unchecked",
        every=10,
        clock=lambda: now[0],
    )

    with caplog.at_level(logging.WARNING, logger="agentos.test"):
        for _ in range(5):
            report()
        now[0] = 10.0
        report()

    lines = [record for record in caplog.records if record.name == "agentos.test"]
    assert [line.fields["skipped"] for line in lines] == [1, 5]


async def test_with_redis_down_a_read_passes_and_a_change_is_503(
    tmp_path: Path,
) -> None:
    """A dead Redis: GET answers unthrottled, POST is refused before the route."""
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings.model_validate(base_settings(tmp_path, redis_url=dead_redis))
    app = await start_app(settings, "embedded")
    headers = app.auth("alice", "admin")

    try:
        read = await app.client.get("/", headers=headers)
        change = await app.client.post("/api/jobs/create", headers=headers, json={})
    finally:
        await stop_app(app)

    assert read.status_code == 200
    assert "RateLimit" not in read.headers
    assert (change.status_code, change.json()["error_code"]) == (503, "DEPENDENCY_DOWN")
    assert int(change.headers["Retry-After"]) >= 1
