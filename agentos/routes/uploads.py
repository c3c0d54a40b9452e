"""``/api/upload``: chunked, resumable uploads.

A client opens an upload (``init``), sends its chunks in any order as raw
``application/octet-stream`` bodies (``chunk``), and ``finalize``s it. The
chunk route streams its body: the declared ``Content-Length`` is checked
against the chunk's exact size before a byte is read, and reading stops as
soon as the body runs past it, so a wrong or oversized chunk costs neither
memory nor disk. ``request_max_bytes`` still bounds every request, and
``uploads.max_chunk_bytes`` bounds the chunk size a session may declare.

Roles: users upload and see their own files; admins and operators act on
every upload; supervisors and readonly callers only read.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi
from sanic_ext.extensions.openapi import definitions

from agentos.auth.access import READ_ALL, WRITE_ALL
from agentos.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from agentos.http.body import read_model
from agentos.http.docs import envelope, page_envelope, request_body, responses
from agentos.http.envelope import Page, ok, page_params
from agentos.http.request import (
    PAGE_PARAMETERS,
    caller,
    choice_parameter,
    int_parameter,
    path_uuid,
    query_int,
    query_text,
    uuid_parameter,
)
from agentos.http.resources import shown
from agentos.routes import upload_models as m
from agentos.services.base import CallContext
from agentos.services.upload_plan import UploadStatus
from agentos.services.uploads import UploadsService

bp = Blueprint("uploads")

TAG = "uploads"
UPLOADERS = WRITE_ALL | {"user"}
READERS = READ_ALL | {"user"}
MAX_INDEX = 10**9
OCTET_STREAM = "application/octet-stream"

_UPLOAD = envelope(m.UploadInfo)


def _uploads(request: Request) -> UploadsService:
    service: UploadsService = request.app.ctx.services["uploads"]
    return service


async def _uploader(request: Request) -> CallContext:
    return await caller(request, UPLOADERS, "upload files")


async def _reader(request: Request) -> CallContext:
    return await caller(request, READERS, "read uploads")


@bp.post("/api/upload/init")
@openapi.definition(
    summary="Open an upload session for one file",
    description="Declares the file's name, size, SHA-256 and chunk size; the "
    "answer carries the upload `id` and the number of chunks to send. A size "
    "of 0 takes no chunks: finalize it at once. Roles: user, operator, admin.",
    tag=TAG,
    body=request_body(m.UploadInit),
    response=responses(_UPLOAD, 400, 403, 415, 507, status=201),
)
async def init_upload(request: Request) -> HTTPResponse:
    """Open an upload and answer it with its id."""
    ctx = await _uploader(request)
    body = read_model(request, m.UploadInit)
    upload = await _uploads(request).init(ctx, **body.model_dump())
    return ok(shown(upload), status=201)


@bp.post("/api/upload/chunk", stream=True)
@openapi.definition(
    summary="Send one chunk of an upload as raw bytes",
    description="Chunk `index` counts from 0; every chunk but the last is "
    "exactly `chunk_size` bytes. Chunks may come in any order, and sending one "
    "again replaces it harmlessly. A chunk of the wrong size or an index past "
    "the end is 400. Roles: user (own uploads), operator, admin.",
    tag=TAG,
    parameter=[
        uuid_parameter("upload_id", location="query", required=True),
        int_parameter("index", low=0, high=MAX_INDEX, required=True),
    ],
    body=definitions.RequestBody(
        {OCTET_STREAM: {"type": "string", "format": "binary"}}, required=True
    ),
    response=responses(_UPLOAD, 400, 403, 404, 409, 413, 415, 507),
)
async def put_chunk(request: Request) -> HTTPResponse:
    """Store one chunk; answer what has arrived and what is missing."""
    ctx = await _uploader(request)
    _require_octet_stream(request)
    upload_id = path_uuid(_required(request, "upload_id"), "upload_id")
    index = query_int(request.args, "index", None, low=0, high=MAX_INDEX)
    if index is None:
        raise BadRequest("'index' is required: the chunk's number, from 0.")

    service = _uploads(request)
    expected = await service.expected_chunk_length(
        ctx, upload_id=upload_id, index=index
    )
    data = await _read_chunk(request, index, expected)
    upload = await service.put_chunk(ctx, upload_id=upload_id, index=index, data=data)
    return ok(shown(upload))


@bp.post("/api/upload/finalize")
@openapi.definition(
    summary="Assemble, verify and store an upload",
    description="Checks that every chunk is there and that size and SHA-256 "
    "match the declaration, then moves the file into storage. A missing chunk "
    "or a wrong checksum is 400 and keeps the chunks for a retry; a second "
    "finalize while one runs is 409; no disk room is 507. With `job`, a job is "
    "created from the stored file. Roles: user (own uploads), operator, admin.",
    tag=TAG,
    body=request_body(m.FinalizeRequest),
    response=responses(_UPLOAD, 400, 403, 404, 409, 415, 507),
)
async def finalize_upload(request: Request) -> HTTPResponse:
    """Finalize the upload; answer it complete, with its job if one was asked."""
    ctx = await _uploader(request)
    body = read_model(request, m.FinalizeRequest)
    job = body.job.model_dump(exclude_none=True) if body.job else None
    upload = await _uploads(request).finalize(
        ctx, upload_id=path_uuid(body.upload_id, "upload_id"), job=job
    )
    return ok(shown(upload))


@bp.get("/api/upload/status/<upload_id:str>")
@openapi.definition(
    summary="Bytes received and chunks missing of one upload",
    description="Roles: every role; a user sees only their own uploads.",
    tag=TAG,
    parameter=uuid_parameter("upload_id"),
    response=responses(_UPLOAD, 400, 403, 404),
)
async def upload_status(request: Request, upload_id: str) -> HTTPResponse:
    """The upload with its progress."""
    ctx = await _reader(request)
    upload_id = path_uuid(upload_id, "upload_id")
    return ok(shown(await _uploads(request).status(ctx, upload_id=upload_id)))


@bp.get("/api/upload")
@openapi.definition(
    summary="The caller's uploads, newest first",
    description="Users see their own uploads, the other roles every upload. "
    "Filter with `status`.",
    tag=TAG,
    parameter=[choice_parameter("status", UploadStatus), *PAGE_PARAMETERS],
    response=responses(page_envelope(m.UploadSummary), 400, 403),
)
async def list_uploads(request: Request) -> HTTPResponse:
    """One page of uploads the caller may see."""
    ctx = await _reader(request)
    page, per_page = page_params(request.args)
    uploads, total = await _uploads(request).list_uploads(
        ctx, page=page, per_page=per_page, status=query_text(request.args, "status")
    )
    return ok(shown(uploads), pagination=Page(page, per_page, total))


def _require_octet_stream(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == OCTET_STREAM:
        return
    raise UnsupportedMediaType(
        f"Send a chunk as raw bytes with 'Content-Type: {OCTET_STREAM}' "
        f"(got '{content_type[:80] or 'none'}')."
    )


def _required(request: Request, name: str) -> str:
    value = query_text(request.args, name, max_length=100)
    if not value:
        raise BadRequest(f"'{name}' is required in the query string.")
    return value


async def _read_chunk(request: Request, index: int, expected: int) -> bytes:
    """The body, refused as soon as it is known to differ from ``expected``.

    A streamed route is not held to the server's body limit by Sanic, so the
    declared length is checked against it here first: 413 as for any body.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        limit = request.app.ctx.settings.request_max_bytes
        if int(declared) > limit:
            raise PayloadTooLarge(
                f"The body is larger than this server accepts ({limit} bytes)."
            )
        if int(declared) != expected:
            raise _wrong_size(index, expected, int(declared))

    stream = request.stream
    assert stream is not None  # the route is declared with stream=True
    received = bytearray()
    # Sanic's Stream type does not declare read(); its HTTP/1 stream has it.
    while (part := await stream.read()) is not None:  # type: ignore[attr-defined]
        received += part
        if len(received) > expected:
            raise _wrong_size(index, expected, None)
    if len(received) != expected:
        raise _wrong_size(index, expected, len(received))
    return bytes(received)


def _wrong_size(index: int, expected: int, given: int | None) -> BadRequest:
    """``given`` is ``None`` when reading stopped as the body ran past ``expected``."""
    had = f"more than {expected}" if given is None else str(given)
    return BadRequest(
        f"Chunk {index} must be exactly {expected} bytes; the body had {had}.",
        details=[{"field": "body", "expected_bytes": expected,
                  "received_bytes": given}],
    )

