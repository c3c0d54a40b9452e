"""Governance of the HTTP surface: the endpoint inventory and the exported docs.

Every endpoint is recorded in ``schemas/endpoints.txt`` (method, path, tags);
adding, removing or retagging one without updating the inventory fails here,
so a change of the public surface is always a reviewed change.
Every bounded whole-number argument states its bounds in its schema, and
those bounds are the ones the service enforces; so is every argument
documented as a UUID.
``schemas/openapi.json`` must be the document the service serves, so that
clients generated from the file match the running service, and
``schemas/action.schema.json`` must be the meta-schema the package ships.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from openapi_spec_validator import validate

from agentos.config import Settings
from agentos.http.inventory import HTTP_METHODS, inventory_lines
from agentos.registry.metaschema import meta_schema_file
from tests.fixtures.app import RunningApp, base_settings, start_app, stop_app

REPO = Path(__file__).resolve().parents[1]
INVENTORY = REPO / "schemas" / "endpoints.txt"
EXPORTED = REPO / "schemas" / "openapi.json"
META_SCHEMA_EXPORT = REPO / "schemas" / "action.schema.json"
UNTAGGED_ALLOWED = {("GET", "/"), ("GET", "/health")}
MAX_ENDPOINTS = 50
PAGINATION_ARGUMENTS = {"page", "per_page", "limit"}


@pytest.fixture
async def embedded_api(tmp_path: Path) -> AsyncIterator[RunningApp]:
    """One server on the embedded backends: the surface does not vary by backend."""
    settings = Settings.model_validate(base_settings(tmp_path))
    running = await start_app(settings, "embedded")
    yield running
    await stop_app(running)


async def served_document(embedded_api: RunningApp) -> dict[str, Any]:
    response = await embedded_api.client.get("/docs/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_endpoint_inventory_matches_the_committed_one(
    embedded_api: RunningApp,
) -> None:
    """The served endpoints are exactly those in schemas/endpoints.txt."""
    served = inventory_lines(await served_document(embedded_api))

    recorded = INVENTORY.read_text().split("\n")
    recorded = [line for line in recorded if line and not line.startswith("#")]
    assert served == recorded, "run `make openapi` and review schemas/endpoints.txt"


async def test_at_most_fifty_endpoints_each_tagged(embedded_api: RunningApp) -> None:
    """The surface stays within 50 endpoints; all but / and /health carry a tag."""
    document = await served_document(embedded_api)

    operations = [
        (method.upper(), path, operation.get("tags", []))
        for path, ops in document["paths"].items()
        for method, operation in ops.items()
        if method in HTTP_METHODS
    ]
    assert len(operations) <= MAX_ENDPOINTS
    untagged = {(m, p) for m, p, tags in operations if not tags}
    assert untagged <= UNTAGGED_ALLOWED


async def test_every_operation_that_reads_a_json_body_documents_415(
    embedded_api: RunningApp,
) -> None:
    """An operation with a JSON body lists 415 among its documented answers.

    The body reader refuses any other content type with 415 (a POST sent
    with no Content-Type at all included), so a client generated from the
    document must expect it wherever a body is read.
    """
    document = await served_document(embedded_api)

    silent = [
        name
        for name, operation in _operations(document)
        if "requestBody" in operation
        and "default" not in operation["responses"]
        and "415" not in operation["responses"]
    ]

    assert silent == [], "add 415 to these routes' `responses(...)`"


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each documented operation, named "GET /path"."""
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation


def _parameters(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each documented parameter, with its operation as "GET /path"."""
    for name, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            yield name, parameter


def _bounded_integer(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "integer" and {"minimum", "maximum"} <= schema.keys()


async def test_every_pagination_argument_documents_its_bounds(
    embedded_api: RunningApp,
) -> None:
    """Every page, per_page and limit is an integer with a minimum and a maximum.

    The service refuses a value out of range with 400; a generated client or
    an API fuzzer knows the range only if the schema states it, since neither
    reads a description.
    """
    document = await served_document(embedded_api)

    unbounded = [
        f"{operation} {parameter['name']}"
        for operation, parameter in _parameters(document)
        if parameter["name"] in PAGINATION_ARGUMENTS
        and not _bounded_integer(parameter["schema"])
    ]

    assert unbounded == [], "declare these with int_parameter or page_parameters"


def _reachable(
    document: dict[str, Any], wanted: Callable[[dict[str, Any]], bool]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each GET argument whose schema is ``wanted`` and that needs no other
    path argument, so that a test can make up every value of the call."""
    for path, ops in document["paths"].items():
        parameters = ops.get("get", {}).get("parameters", [])
        in_path = {p["name"] for p in parameters if p["in"] == "path"}
        for parameter in parameters:
            if wanted(parameter["schema"]) and in_path <= {parameter["name"]}:
                yield path, parameter


async def _status(
    api: RunningApp, path: str, parameter: dict[str, Any], value: int
) -> int:
    """The status of a GET of ``path`` with ``value`` for ``parameter``."""
    name = parameter["name"]
    if parameter["in"] == "path":
        url, params = path.replace(f"{{{name}}}", str(value)), {}
    else:
        url, params = path, {name: value}
    response = await api.client.get(url, params=params, headers=api.auth())
    return response.status_code


async def test_documented_bounds_are_the_ones_the_service_enforces(
    embedded_api: RunningApp,
) -> None:
    """Each documented bound is accepted, and one past it answers 400.

    Taken from the served document for every GET whose arguments can be
    made up (no ids in the path), so that a bound changed in the code but
    not in the document, or the other way round, fails here.
    """
    document = await served_document(embedded_api)
    bounds = list(_reachable(document, _bounded_integer))

    answers, expected = [], []
    for path, parameter in bounds:
        low, high = parameter["schema"]["minimum"], parameter["schema"]["maximum"]
        for value, status in ((low - 1, 400), (low, 200), (high, 200), (high + 1, 400)):
            case = (path, parameter["name"], value)
            answers.append((*case, await _status(embedded_api, path, parameter, value)))
            expected.append((*case, status))

    assert answers == expected
    assert {"/api/jobs/history", "/api/jobs/recent/{limit}"} <= {p for p, _ in bounds}


def _array(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array"


def _list_cases(schema: dict[str, Any]) -> Iterator[tuple[str, list[str], int]]:
    """Lists of values the schema allows (200) and lists it does not (400)."""
    items, most = schema["items"], schema["maxItems"]
    if "enum" in items:
        allowed = [str(value) for value in items["enum"]]
        yield "every allowed value", allowed, 200
        yield "every allowed value, comma-separated", [",".join(allowed)], 200
        yield "a value not allowed", [allowed[0], "no-such-value"], 400
    else:
        allowed = ["x"]
    if "maxLength" in items:
        yield "the longest value", ["x" * items["maxLength"]], 200
        yield "a value too long", ["x" * (items["maxLength"] + 1)], 400
    yield "as many values as allowed", allowed[:1] * most, 200
    yield "one value too many", allowed[:1] * (most + 1), 400


async def test_documented_lists_are_the_ones_the_service_takes(
    embedded_api: RunningApp,
) -> None:
    """An array argument takes what its schema allows and refuses the rest.

    The values are sent repeated, as a client generated from the document
    sends an array, and once comma-separated, which the service also takes.
    """
    document = await served_document(embedded_api)
    arguments = list(_reachable(document, _array))

    answers, expected = [], []
    for path, parameter in arguments:
        for case, values, status in _list_cases(parameter["schema"]):
            response = await embedded_api.client.get(
                path, params={parameter["name"]: values}, headers=embedded_api.auth()
            )
            answers.append((path, parameter["name"], case, response.status_code))
            expected.append((path, parameter["name"], case, status))

    assert answers == expected
    assert {("/api/jobs/history", "status"), ("/api/jobs/history", "kind")} <= {
        (path, parameter["name"]) for path, parameter in arguments
    }


class UuidArgument(NamedTuple):
    """An argument documented with ``format: uuid`` and its operation."""

    method: str
    path: str
    parameter: dict[str, Any]
    siblings: list[dict[str, Any]]


def _uuid_arguments(document: dict[str, Any]) -> Iterator[UuidArgument]:
    for name, operation in _operations(document):
        method, path = name.split(" ", 1)
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            if parameter["schema"].get("format") == "uuid":
                yield UuidArgument(method, path, parameter, parameters)


async def _ask_with(
    api: RunningApp, argument: UuidArgument, value: str
) -> tuple[int, str | None]:
    """Status and error code of a call with ``value`` for the argument.

    The operation's other required query arguments get the least value
    their schema allows; a POST sends one byte as its body.
    """
    name = argument.parameter["name"]
    params = {
        p["name"]: p["schema"].get("minimum", 0)
        for p in argument.siblings
        if p["in"] == "query" and p.get("required") and p["name"] != name
    }
    url = argument.path
    if argument.parameter["in"] == "path":
        url = url.replace(f"{{{name}}}", value)
    else:
        params[name] = value
    response = await api.client.request(
        argument.method,
        url,
        params=params,
        headers={**api.auth(), "Content-Type": "application/octet-stream"},
        content=b"x" if argument.method == "POST" else None,
    )
    return response.status_code, response.json().get("error_code")


async def test_every_argument_documented_as_a_uuid_is_read_as_one(
    embedded_api: RunningApp,
) -> None:
    """What is not a UUID is 400; a UUID naming nothing is 404, never a 500.

    Taken from the served document, so that an argument documented as a
    UUID but read as any text (or the other way round) fails here.
    """
    document = await served_document(embedded_api)
    arguments = list(_uuid_arguments(document))
    unknown = "0b5e7c1a-9999-4c1e-9a57-2b1f0c6d7e8a"

    answers, expected = [], []
    for argument in arguments:
        for value, answer in (
            ("not-a-uuid", (400, "VALIDATION_ERROR")),
            ("1" * 40, (400, "VALIDATION_ERROR")),
            (unknown, (404, "NOT_FOUND")),
        ):
            case = (argument.method, argument.path, value)
            answers.append((*case, await _ask_with(embedded_api, argument, value)))
            expected.append((*case, answer))

    assert answers == expected
    assert {(a.method, a.path) for a in arguments} == {
        ("GET", "/api/admin/action/status"),
        ("GET", "/api/upload/status/{upload_id}"),
        ("POST", "/api/upload/chunk"),
    }


async def test_served_document_equals_the_export_in_this_process(
    embedded_api: RunningApp,
) -> None:
    """The app serves exactly schemas/openapi.json, whatever ran before it here.

    The app fixtures start every app from a fresh OpenAPI builder, so the
    components and paths of apps and tests that ran earlier in this process
    (other actions, bench endpoints, sample models) do not show up.
    """

    document = await served_document(embedded_api)

    assert json.loads(EXPORTED.read_text()) == document, "run `make openapi`"


def test_exported_document_is_current_and_valid() -> None:
    """schemas/openapi.json equals what a fresh process serves, and is valid.

    A fresh process, because sanic-ext keeps its document builder for the
    whole process: apps other tests start leave components behind in it.
    """
    result = subprocess.run(
        [sys.executable, "-m", "agentos", "openapi"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )
    document = json.loads(result.stdout)

    validate(document)
    assert json.loads(EXPORTED.read_text()) == document, "run `make openapi`"


def test_exported_action_meta_schema_is_the_packaged_one() -> None:
    """schemas/action.schema.json is a byte-for-byte export of the package's copy."""
    packaged = meta_schema_file().read_bytes()

    exported = META_SCHEMA_EXPORT.read_bytes()

    assert exported == packaged, (
        "edit agentos/registry/action.schema.json, then run `make schemas`"
    )
