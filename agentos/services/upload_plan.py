"""The rules of a chunked upload, free of I/O: names, sizes, chunks, states.

Theory of operation. A client declares a file (name, size, SHA-256, chunk
size) and gets an upload id. It then sends the chunks, numbered from 0, in
any order and as often as it likes: chunk ``i`` covers bytes
``[i * chunk_size, min((i + 1) * chunk_size, size))``, so every chunk but the
last is exactly ``chunk_size`` long and the last holds the rest. Finalizing
assembles the chunks, checks size and SHA-256 and moves the file into
storage. Until a finalize succeeds nothing is presented as a file.

States of an upload::

    open        chunks are accepted
    finalizing  one finalize call is assembling; chunks and finalizes wait (409)
    complete    the file is in storage; final
    failed      given up; final (kept for the record)
    expired     abandoned, chunks freed by the janitor; final

A finalize that finds a chunk missing, a wrong checksum or no disk room puts
the upload back to ``open``: the chunks stay, the client mends and retries.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from agentos.errors import BadRequest, Conflict

MAX_FILENAME_CHARS = 255
MAX_FILENAME_BYTES = 255
SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
CONTENT_TYPE = re.compile(
    r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$",
    re.IGNORECASE,
)
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class UploadStatus(StrEnum):
    """Where an upload is in its life."""

    OPEN = "open"  # accepting chunks
    FINALIZING = "finalizing"  # one finalize call is assembling it
    COMPLETE = "complete"  # the file is in storage
    FAILED = "failed"  # given up
    EXPIRED = "expired"  # abandoned; chunks freed


U = UploadStatus
TRANSITIONS: frozenset[tuple[UploadStatus, UploadStatus]] = frozenset({
    (U.OPEN, U.FINALIZING),
    (U.FINALIZING, U.COMPLETE),
    (U.FINALIZING, U.OPEN),  # failed or crashed: chunks kept for a retry
    (U.OPEN, U.EXPIRED),
    (U.OPEN, U.FAILED),
})


def check_move(current: str, target: UploadStatus) -> None:
    """Raise 409 unless an upload may go from ``current`` to ``target``."""
    if (UploadStatus(current), target) in TRANSITIONS:
        return
    status = UploadStatus(current)
    raise Conflict(_MOVE_REFUSED.get(status, f"The upload is {current}."))


_MOVE_REFUSED = {
    U.OPEN: "The upload is still open; send its chunks, then finalize it.",
    U.FINALIZING: "Another finalize call is assembling this upload; wait for it.",
    U.COMPLETE: "The upload is already complete; nothing more can change it.",
    U.FAILED: "The upload has failed; start a new upload.",
    U.EXPIRED: "The upload has expired and its chunks were freed; start a new one.",
}


def check_filename(name: str) -> str:
    """``name`` if it is a plain file name; otherwise raise 400 saying why.

    A file name is stored and shown, never used as a path: files are stored
    under their upload id. It is still refused when it could mislead a person
    or a tool that does use it: separators, ``.``/``..``, control and
    invisible format characters (NUL, bidi overrides, zero-width spaces).
    """
    problem = _filename_problem(name)
    if problem is None:
        return name
    raise BadRequest(
        f"The file name {problem}; send the plain name of the file.",
        details=[{"pointer": "/filename", "message": problem,
                  "type": "filename"}],
    )


def _filename_problem(name: str) -> str | None:
    if not name or not name.strip():
        return "is empty"
    if len(name) > MAX_FILENAME_CHARS:
        return f"has {len(name)} characters, more than {MAX_FILENAME_CHARS}"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILENAME_BYTES:
        return f"is longer than {MAX_FILENAME_BYTES} bytes in UTF-8"
    if "/" in name or "\\" in name:
        return "contains a path separator ('/' or '\\')"
    if name in {".", ".."}:
        return "is a directory reference ('.' or '..')"
    if name != name.strip():
        return "starts or ends with white space"
    for char in name:
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            return f"contains the invisible or control character U+{ord(char):04X}"
    return None


@dataclass(frozen=True)
class ChunkPlan:
    """How a file of ``size`` bytes is cut into chunks of ``chunk_size``."""

    size: int
    chunk_size: int

    @property
    def total_chunks(self) -> int:
        return math.ceil(self.size / self.chunk_size)

    def chunk_length(self, index: int) -> int:
        """The exact length chunk ``index`` must have."""
        self.check_index(index)
        if index < self.total_chunks - 1:
            return self.chunk_size
        return self.size - self.chunk_size * (self.total_chunks - 1)

    def check_index(self, index: int) -> None:
        """Raise 400 unless ``index`` names a chunk of this file."""
        if 0 <= index < self.total_chunks:
            return
        if self.total_chunks == 0:
            message = "This upload is an empty file and takes no chunks; finalize it."
        else:
            message = (f"Chunk index {index} is outside this upload; indexes run "
                       f"from 0 to {self.total_chunks - 1}.")
        raise BadRequest(message, details=[
            {"field": "index", "value": index,
             "allowed": f"0..{self.total_chunks - 1}"},
        ])

    def check_chunk(self, index: int, length: int) -> None:
        """Raise 400 unless ``length`` bytes is right for chunk ``index``."""
        expected = self.chunk_length(index)
        if length == expected:
            return
        raise BadRequest(
            f"Chunk {index} must be exactly {expected} bytes; it had {length}.",
            details=[{"field": "body", "expected_bytes": expected,
                      "received_bytes": length}],
        )

    def missing(self, present: set[int]) -> list[int]:
        """The indexes of the chunks not in ``present``, ascending."""
        return [index for index in range(self.total_chunks) if index not in present]


def check_sha256(value: str) -> str:
    """The checksum in lower case, or raise 400."""
    if SHA256_HEX.fullmatch(value):
        return value.lower()
    raise BadRequest(
        "sha256 must be the file's SHA-256 as 64 hexadecimal characters.",
        details=[{"pointer": "/sha256", "message": "not 64 hex characters",
                  "type": "sha256"}],
    )
