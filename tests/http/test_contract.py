"""The HTTP contract that every endpoint shares: envelopes, trace ids, errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from agentos.http.envelope import _now
from agentos.http.trace import new_trace_id
from tests.fixtures.app import RunningApp

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def test_success_envelope_carries_data_time_and_trace_id(api: RunningApp) -> None:
    """A success answer wraps its data with timestamp, duration and trace id."""

    response = await api.client.get("/")

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["data"]["links"]["health"] == "/health"
    assert ISO_Z.fullmatch(body["timestamp"])
    assert body["response_time_ms"] >= 0
    assert body["trace_id"] == response.headers["X-Trace-Id"]


async def test_valid_incoming_trace_id_is_kept(api: RunningApp) -> None:
    """A well-formed X-Trace-Id from the caller is used and echoed back."""

    response = await api.client.get("/", headers={"X-Trace-Id": "order-42.retry_1"})

    assert response.headers["X-Trace-Id"] == "order-42.retry_1"
    assert response.json()["trace_id"] == "order-42.retry_1"


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("x" * 10_000, id="ten-thousand-characters"),
        pytest.param("short", id="too-short"),
        pytest.param("bad id with spaces", id="spaces"),
        pytest.param("<script>alert(1)</script>", id="markup"),
    ],
)
async def test_invalid_trace_id_is_replaced_not_echoed(
    api: RunningApp, given: str
) -> None:
    """A malformed trace id is replaced by a fresh one, never reflected."""

    response = await api.client.get("/", headers={"X-Trace-Id": given})

    returned = response.headers["X-Trace-Id"]
    assert response.status_code == 200
    assert returned != given
    assert re.fullmatch(r"[0-9a-f]{32}", returned)


async def test_w3c_traceparent_supplies_the_trace_id(api: RunningApp) -> None:
    """Without X-Trace-Id, the trace id of a W3C traceparent header is used."""
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    response = await api.client.get("/", headers={"traceparent": parent})

    assert response.headers["X-Trace-Id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_unknown_path_answers_a_404_envelope(api: RunningApp) -> None:
    """An unknown route is a NOT_FOUND envelope, not Sanic's HTML page."""

    response = await api.client.get("/no/such/path")

    body = response.json()
    assert response.status_code == 404
    assert body["success"] is False
    assert body["error_code"] == "NOT_FOUND"
    assert body["trace_id"] == response.headers["X-Trace-Id"]


async def test_wrong_method_answers_405_with_allow(api: RunningApp) -> None:
    """A known path with the wrong method lists the allowed methods."""

    response = await api.client.delete("/health")

    assert response.status_code == 405
    assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in response.headers["Allow"]


async def test_body_over_the_limit_is_refused_with_413(make_app) -> None:
    """A body larger than request_max_bytes is refused before it is read."""
    running = await make_app(request_max_bytes=4096)

    response = await running.client.post(
        "/api/jobs/create",
        content=b"{" + b" " * 10_000 + b"}",
        headers={"Content-Type": "application/json", **running.auth()},
    )

    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param("/api/jobs/history?" + "&".join(["status=queued"] * 2000), {},
                     id="long-query"),
        pytest.param("/api/jobs/history", {"X-Padding": "p" * 17_000}, id="header"),
    ],
)
async def test_a_request_head_over_the_limit_is_431_not_a_body_error(
    api: RunningApp, path: str, headers: dict[str, str]
) -> None:
    """Past 16 KiB of request line and headers: 431, and it says what to shorten."""

    response = await api.client.get(path, headers={**api.auth(), **headers})

    assert response.status_code == 431
    assert response.json()["error_code"] == "HEADERS_TOO_LARGE"
    assert "query string or the headers" in response.json()["error"]


async def test_malformed_json_answers_400_malformed_json(api: RunningApp) -> None:
    """A body that is not JSON is a MALFORMED_JSON envelope, not a 500."""

    response = await api.client.post(
        "/api/jobs/create",
        content=b'{"kind": "clip.cut", ',
        headers={"Content-Type": "application/json", **api.auth()},
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "MALFORMED_JSON"


async def test_json_body_with_the_wrong_content_type_is_415(api: RunningApp) -> None:
    """A JSON endpoint refuses a body that does not say it is JSON."""

    response = await api.client.post(
        "/api/jobs/create",
        content=b'{"kind": "clip.cut", "params": {}}',
        headers={"Content-Type": "text/plain", **api.auth()},
    )

    assert response.status_code == 415
    assert response.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_deeply_nested_json_is_refused_cleanly(api: RunningApp) -> None:
    """20,000 levels of nesting are refused with 400, never a recursion error."""

    response = await api.client.post(
        "/api/jobs/create",
        content=b"[" * 20_000 + b"]" * 20_000,
        headers={"Content-Type": "application/json", **api.auth()},
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "MALFORMED_JSON"


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (b"NaN", "NaN"),
        (b"Infinity", "Infinity"),
        (b"-Infinity", "-Infinity"),
        (b"-1e999", "-1e999"),
        (b'"\\udfff"', "surrogate"),
        (b'"\\ud83d"', "surrogate"),
        (b'"\xed\xa0\x80"', "UTF-8"),
        (b'"\xff"', "UTF-8"),
    ],
)
async def test_values_json_cannot_hold_are_refused(
    api: RunningApp, value: bytes, named: str
) -> None:
    """Non-finite numbers, lone surrogates and bytes that are not UTF-8: 400."""

    response = await api.client.post(
        "/api/jobs/create",
        content=b'{"kind": "clip.cut", "params": {"start": ' + value + b"}}",
        headers={"Content-Type": "application/json", **api.auth()},
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "MALFORMED_JSON"
    assert named in response.json()["error"]


async def test_cors_answers_only_configured_origins(make_app) -> None:
    """A configured origin gets CORS headers; any other origin gets none."""
    running = await make_app(cors_origins=["https://admin.example.com"])

    allowed = await running.client.get(
        "/health", headers={"Origin": "https://admin.example.com"}
    )
    other = await running.client.get("/health", headers={"Origin": "https://evil.test"})

    assert allowed.headers["access-control-allow-origin"] == "https://admin.example.com"
    assert "access-control-allow-origin" not in other.headers


async def test_without_configured_origins_no_cors_headers_are_sent(
    api: RunningApp,
) -> None:
    """CORS is off by default: no origin is ever allowed."""

    response = await api.client.get("/health", headers={"Origin": "https://x.test"})

    assert "access-control-allow-origin" not in response.headers


async def test_no_stack_trace_leaves_the_process(api: RunningApp) -> None:
    """Error answers never contain a Python traceback."""

    response = await api.client.get("/no/such/path")

    assert "Traceback" not in response.text


def test_made_up_trace_ids_are_32_hex_digits_and_never_repeat() -> None:
    """A new trace id looks like a W3C one (32 lower-case hex digits, not all
    zeros), so it can be passed on in a traceparent; ten thousand differ."""
    made = [new_trace_id() for _ in range(10_000)]

    assert all(re.fullmatch(r"[0-9a-f]{32}", trace) for trace in made)
    assert "0" * 32 not in made
    assert len(set(made)) == len(made)


def test_envelope_timestamp_is_the_current_utc_time_to_the_millisecond() -> None:
    """The stamp is UTC (not local time), truncated to the millisecond, and current."""
    before = datetime.now(UTC).replace(microsecond=0)
    stamps = [_now() for _ in range(2000)]  # crosses a second boundary now and then
    after = datetime.now(UTC)

    for stamp in (stamps[0], stamps[-1]):
        assert ISO_Z.fullmatch(stamp)
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert before - timedelta(milliseconds=1) <= moment <= after
    assert stamps == sorted(stamps)


async def test_no_signal_handler_runs_on_every_request(api: RunningApp) -> None:
    """Sanic drops the dispatch of request signals nothing listens to; keep it so.

    A handler on an ``http.`` event (sanic-ext's dependency injection adds one
    when its built-in extensions are all loaded) costs every request.
    """
    events = [route.name for route in api.app.signal_router.routes]

    assert not [event for event in events if event.startswith("http.")], events
