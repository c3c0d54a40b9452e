"""Request and response models of the upload endpoints, as OpenAPI documents them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

UploadState = Literal["open", "finalizing", "complete", "failed", "expired"]

_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


class UploadInit(BaseModel):
    """The file about to be sent, as the client declares it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {
            "filename": "talk.mp4", "size": 20971520, "sha256": _SHA,
            "content_type": "video/mp4", "chunk_size": 4194304,
        }},
    )

    filename: str = Field(description="The plain file name; stored, never a path.")
    size: int = Field(ge=0, description="Bytes in the whole file.")
    sha256: str = Field(description="SHA-256 of the whole file, 64 hex characters.")
    content_type: str | None = Field(default=None, description="A media type.")
    chunk_size: int = Field(
        ge=1, description="Bytes in every chunk but the last, within the limits."
    )


class UploadSummary(BaseModel):
    """An upload session and, once complete, where its file is stored."""

    id: str
    owner_id: str
    filename: str
    size: int
    sha256: str
    content_type: str
    chunk_size: int
    total_chunks: int
    status: UploadState
    storage_path: str | None = Field(
        description="Relative to the data directory once complete."
    )
    job_id: str | None
    created_at: datetime
    updated_at: datetime
    finalized_at: datetime | None


class UploadInfo(UploadSummary):
    """An upload with what has arrived and what is still missing."""

    received_chunks: int
    received_bytes: int
    missing_count: int
    missing_chunks: list[int] = Field(description="The first 1000 missing indexes.")
    job: dict[str, Any] | None = Field(
        default=None, description="The job finalize created, when one was asked for."
    )


class JobRequest(BaseModel):
    """A job to create from the upload once it is complete."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(examples=["clip.cut"])
    params: dict[str, Any] = Field(default_factory=dict)
    priority: int | None = Field(default=None, ge=0, le=9)


class FinalizeRequest(BaseModel):
    """Which upload to finalize, and optionally a job to start from it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {
            "upload_id": "3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a",
        }},
    )

    upload_id: str = Field(json_schema_extra={"format": "uuid"})
    job: JobRequest | None = None
