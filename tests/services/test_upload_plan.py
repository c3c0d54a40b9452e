"""The rules of a chunked upload: names, chunk layout, states."""

from __future__ import annotations

import pytest

from agentos.errors import BadRequest, Conflict
from agentos.services.upload_plan import (
    ChunkPlan,
    UploadStatus,
    check_filename,
    check_move,
    check_sha256,
)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("talk.mp4", id="plain"),
        pytest.param("Präsentation 2026 (final).mov", id="unicode-and-spaces"),
        pytest.param("..hidden", id="leading-dots"),
        pytest.param("a" * 255, id="255-characters"),
    ],
)
def test_a_plain_file_name_is_kept_as_given(name: str) -> None:
    """Ordinary names, however unusual, pass unchanged."""

    assert check_filename(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        pytest.param("../etc/passwd", "separator", id="parent-traversal"),
        pytest.param("..\\boot.ini", "separator", id="backslash-traversal"),
        pytest.param("..", "directory reference", id="dot-dot"),
        pytest.param("a\x00.mp4", "U+0000", id="nul"),
        pytest.param("a" * 300, "300 characters", id="300-characters"),
        pytest.param("é" * 200, "bytes", id="too-many-utf8-bytes"),
        pytest.param("evil\u202egpj.exe", "U+202E", id="bidi-override"),
        pytest.param("zero\u200bwidth", "U+200B", id="zero-width-space"),
        pytest.param("line\nbreak", "U+000A", id="newline"),
        pytest.param("", "empty", id="empty"),
        pytest.param(" padded.mp4", "white space", id="leading-space"),
    ],
)
def test_a_misleading_file_name_is_refused_saying_why(name: str, reason: str) -> None:
    """Separators, control and invisible characters and overlong names are 400."""

    with pytest.raises(BadRequest) as caught:
        check_filename(name)

    assert reason in caught.value.message
    assert caught.value.details[0]["pointer"] == "/filename"


@pytest.mark.parametrize(
    ("size", "chunk", "lengths"),
    [
        pytest.param(10, 4, [4, 4, 2], id="short-last"),
        pytest.param(8, 4, [4, 4], id="exact"),
        pytest.param(3, 4, [3], id="smaller-than-a-chunk"),
        pytest.param(0, 4, [], id="empty-file"),
    ],
)
def test_chunks_cover_the_file_exactly(
    size: int, chunk: int, lengths: list[int]
) -> None:
    """Every chunk but the last is chunk_size long; the last holds the rest."""
    plan = ChunkPlan(size, chunk)

    found = [plan.chunk_length(i) for i in range(plan.total_chunks)]

    assert found == lengths
    assert sum(found) == size


@pytest.mark.parametrize("index", [-1, 3, 10**9])
def test_an_index_past_the_end_is_refused(index: int) -> None:
    """An index outside 0..total-1 is 400 and names the allowed range."""

    with pytest.raises(BadRequest) as caught:
        ChunkPlan(10, 4).check_index(index)

    assert caught.value.details[0]["allowed"] == "0..2"


def test_an_empty_file_takes_no_chunk() -> None:
    """A 0-byte upload says to finalize instead of sending chunk 0."""

    with pytest.raises(BadRequest, match="takes no chunks"):
        ChunkPlan(0, 4).check_index(0)


def test_a_chunk_of_the_wrong_size_is_refused() -> None:
    """A short middle chunk names the expected and received sizes."""

    with pytest.raises(BadRequest) as caught:
        ChunkPlan(10, 4).check_chunk(1, 3)

    assert caught.value.details[0] == {
        "field": "body", "expected_bytes": 4, "received_bytes": 3,
    }


def test_missing_lists_absent_indexes_in_order() -> None:
    """``missing`` reports the chunks not yet received, ascending."""

    assert ChunkPlan(20, 4).missing({3, 0}) == [1, 2, 4]


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        pytest.param("open", UploadStatus.FINALIZING, True, id="finalize-open"),
        pytest.param("finalizing", UploadStatus.OPEN, True, id="retry-after-failure"),
        pytest.param("finalizing", UploadStatus.FINALIZING, False,
                     id="second-finalize"),
        pytest.param("complete", UploadStatus.FINALIZING, False, id="finalize-done"),
        pytest.param("expired", UploadStatus.FINALIZING, False, id="finalize-expired"),
        pytest.param("complete", UploadStatus.OPEN, False, id="reopen-done"),
    ],
)
def test_upload_moves_follow_the_table(
    current: str, target: UploadStatus, allowed: bool
) -> None:
    """Only the moves in the table are allowed; the rest are 409."""
    if allowed:
        check_move(current, target)
        return

    with pytest.raises(Conflict):
        check_move(current, target)


def test_sha256_is_normalized_to_lower_case() -> None:
    """An upper-case checksum is accepted and stored in lower case."""

    assert check_sha256("AB" * 32) == "ab" * 32


@pytest.mark.parametrize("value", ["ab" * 31, "zz" * 32, "ab" * 33, ""])
def test_a_malformed_sha256_is_refused(value: str) -> None:
    """Anything but 64 hex characters is 400."""

    with pytest.raises(BadRequest):
        check_sha256(value)
