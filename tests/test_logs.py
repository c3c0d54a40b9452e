"""Structured logging: one event a line, with the request's trace id on each."""

from __future__ import annotations

import json
import logging

import pytest

from agentos.logs import (
    JSONFormatter,
    TextFormatter,
    bind,
    clear_context,
    log_event,
    trace_id_var,
)


@pytest.fixture
def captured() -> list[logging.LogRecord]:
    """Records of the ``agentos.test`` logger, kept in a list."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("agentos.test")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    clear_context()
    yield records
    clear_context()


def test_json_line_carries_event_fields_and_trace_id(captured) -> None:
    """A JSON line holds the event, its fields and the bound trace id."""
    trace_id_var.set("trace-0001")
    bind(subject="ops-1")

    log_event(logging.getLogger("agentos.test"), "job.cancelled", job_id="j-1")

    line = json.loads(JSONFormatter().format(captured[0]))
    assert line["event"] == "job.cancelled"
    assert line["logger"] == "agentos.test"
    assert line["level"] == "info"
    assert line["trace_id"] == "trace-0001"
    assert line["subject"] == "ops-1"
    assert line["job_id"] == "j-1"
    assert "\n" not in JSONFormatter().format(captured[0])


def test_text_line_writes_fields_as_key_value_pairs(captured) -> None:
    """The text format keeps the fields readable as key=value."""
    trace_id_var.set("trace-0002")

    log_event(logging.getLogger("agentos.test"), "breaker.opened", service="jobs")

    line = TextFormatter().format(captured[0])
    assert "agentos.test: breaker.opened" in line
    assert "trace_id=trace-0002" in line
    assert "service=jobs" in line


def test_clearing_the_context_drops_the_previous_requests_fields(captured) -> None:
    """A new request starts with nothing bound from the last one."""
    trace_id_var.set("trace-0003")
    bind(subject="ops-2")
    clear_context()

    log_event(logging.getLogger("agentos.test"), "request.handled")

    line = json.loads(JSONFormatter().format(captured[0]))
    assert "trace_id" not in line
    assert "subject" not in line


class _FormattedLines(logging.Handler):
    """Formats each record as it is emitted, inside the request's context."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(JSONFormatter().format(record)))


@pytest.fixture
def access_lines() -> list[dict]:
    """JSON lines of the agentos.access logger, formatted when logged."""
    handler = _FormattedLines()
    logger = logging.getLogger("agentos.access")
    previous = logger.handlers[:], logger.level
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.handlers[:], level = previous
    logger.setLevel(level)


async def test_access_log_line_names_the_request_and_its_trace_id(
    make_app, access_lines: list[dict]
) -> None:
    """With access_log on, each request logs one line carrying its trace id."""
    running = await make_app(access_log=True)

    await running.client.get("/health", headers={"X-Trace-Id": "access-trace-1"})

    mine = [line for line in access_lines if line.get("path") == "/health"]
    assert len(mine) == 1
    assert mine[0]["event"] == "request.handled"
    assert mine[0]["status"] == 200
    assert mine[0]["trace_id"] == "access-trace-1"


async def test_access_log_off_logs_no_request_lines(
    make_app, access_lines: list[dict]
) -> None:
    """With access_log off, requests leave no access lines."""
    running = await make_app(access_log=False)

    await running.client.get("/health")

    assert access_lines == []
