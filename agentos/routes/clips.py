"""``/api/clips``: the clips that finished jobs produced.

Every known role reads; a ``user`` sees only its own clips, and another
user's clip id answers 404 exactly like an unknown one.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from agentos.auth.access import KNOWN_ROLES, READ_ALL
from agentos.http.docs import envelope, page_envelope, responses
from agentos.http.envelope import ok, page_params
from agentos.http.request import PAGE_PARAMETERS, caller, query_args
from agentos.services.base import CallContext
from agentos.services.clips import ClipsService

bp = Blueprint("clips", url_prefix="/api/clips")

TAG = "clips"


class Clip(BaseModel):
    """A clip as the API shows it."""

    id: str = Field(examples=["9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"])
    job_id: str
    owner_id: str
    path: str = Field(description="Relative to the clip storage folder.")
    start_ms: int = Field(ge=0)
    end_ms: int
    duration_ms: int = Field(gt=0)
    size_bytes: int = Field(ge=0)
    sha256: str = Field(min_length=64, max_length=64)
    created_at: datetime


ClipEnvelope = envelope(Clip)
ClipPage = page_envelope(Clip)


def _clips(request: Request) -> ClipsService:
    service: ClipsService = request.app.ctx.services["clips"]
    return service


async def _reader(request: Request) -> CallContext:
    return await caller(request, allowed=KNOWN_ROLES, sees_all=READ_ALL,
                        doing="read clips")


@bp.get("/recent")
@openapi.definition(
    summary="The newest clips",
    parameter=PAGE_PARAMETERS,
    description="Newest first, paginated with `page` and `per_page`.",
    tag=TAG,
    response=responses(ClipPage, 400, 403),
)
async def recent(request: Request) -> HTTPResponse:
    """One page of the newest clips the caller may see."""
    ctx = await _reader(request)
    page, per_page = page_params(query_args(request))
    rows, pagination = await _clips(request).recent(ctx, page=page, per_page=per_page)
    return ok(rows, pagination=pagination)


@bp.get("/<clip_id:str>")
@openapi.definition(
    summary="One clip",
    tag=TAG,
    response=responses(ClipEnvelope, 400, 403, 404),
)
async def get_clip(request: Request, clip_id: str) -> HTTPResponse:
    """The clip ``clip_id``."""
    ctx = await _reader(request)
    return ok(await _clips(request).get(ctx, clip_id=clip_id))
