"""Upload chunks and assembled files on a real disk, and on a full one.

The full-disk tests mount a real tmpfs of 1 MiB under the test's tmp dir
(they need root, and are skipped with the reason otherwise): the kernel's
own ``statvfs`` and ``ENOSPC`` are what the storage meets, nothing is faked.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentos.errors import InsufficientStorage
from agentos.services.upload_storage import UploadStorage

UPLOAD = "3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a"
PLENTY = 10**15


def _files_under(root: Path) -> list[str]:
    files = (p for p in root.rglob("*") if p.is_file())
    return sorted(p.relative_to(root).as_posix() for p in files)


@pytest.fixture
def storage(tmp_path: Path) -> UploadStorage:
    """Storage on the test's tmp dir with no reserve."""
    return UploadStorage(tmp_path, reserve_bytes=0)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs mounted for this test, unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_chunks_land_under_their_index_with_nothing_left_over(
    storage: UploadStorage, tmp_path: Path
) -> None:
    """Each chunk is one file named by its index; no temporary file remains."""

    storage.write_chunk(UPLOAD, 2, b"cc")
    storage.write_chunk(UPLOAD, 0, b"aaaa")

    assert storage.present_chunks(UPLOAD) == {0: 4, 2: 2}
    assert _files_under(tmp_path) == [
        f"uploads/{UPLOAD}/000000.chunk", f"uploads/{UPLOAD}/000002.chunk",
    ]


def test_a_chunk_sent_again_replaces_the_first_copy(storage: UploadStorage) -> None:
    """The second copy of a chunk wins, whole."""
    storage.write_chunk(UPLOAD, 0, b"old!")

    storage.write_chunk(UPLOAD, 0, b"new!")

    assert storage.chunk_path(UPLOAD, 0).read_bytes() == b"new!"


def test_assembly_joins_chunks_in_index_order_and_hashes_them(
    storage: UploadStorage, tmp_path: Path
) -> None:
    """The assembled file is the chunks in order; publishing names it by id."""
    for index, part in [(1, b"world"), (0, b"hello ")]:
        storage.write_chunk(UPLOAD, index, part)

    assembled = storage.assemble(UPLOAD, total_chunks=2, size=11)
    final = storage.publish(assembled, UPLOAD)

    assert assembled.sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert final.read_bytes() == b"hello world"
    assert storage.relative(final) == f"files/{UPLOAD}"
    assert not any(p.name.endswith(".partial") for p in tmp_path.rglob("*"))


def test_a_write_that_would_eat_the_reserve_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    """With too little room left, nothing is written and the answer is 507."""
    storage = UploadStorage(tmp_path, free_bytes=lambda _: 1000, reserve_bytes=600)

    with pytest.raises(InsufficientStorage) as caught:
        storage.write_chunk(UPLOAD, 0, b"x" * 500)

    assert caught.value.details[0]["free_bytes"] == 1000
    assert storage.present_chunks(UPLOAD) == {}
    assert _files_under(tmp_path) == []


def test_a_small_disk_is_refused_by_its_real_free_space(small_disk: Path) -> None:
    """On a 1 MiB tmpfs, statvfs says a 2 MiB chunk cannot fit: 507, no file."""
    storage = UploadStorage(small_disk, reserve_bytes=0)

    with pytest.raises(InsufficientStorage):
        storage.write_chunk(UPLOAD, 0, b"x" * (2 * 1024 * 1024))

    assert _files_under(small_disk) == []


def test_a_disk_that_fills_mid_write_leaves_no_partial_chunk(small_disk: Path) -> None:
    """The free-space check is told there is room; the kernel's ENOSPC is
    answered with 507 and the partial temporary file is removed."""
    storage = UploadStorage(small_disk, free_bytes=lambda _: PLENTY, reserve_bytes=0)

    with pytest.raises(InsufficientStorage, match="filled up"):
        storage.write_chunk(UPLOAD, 0, b"x" * (2 * 1024 * 1024))

    assert _files_under(small_disk) == []


def test_an_assembly_that_fills_the_disk_leaves_chunks_and_no_file(
    small_disk: Path,
) -> None:
    """Chunks that fit, an assembled copy that does not: the chunks stay for a
    retry and nothing appears under files/."""
    storage = UploadStorage(small_disk, free_bytes=lambda _: PLENTY, reserve_bytes=0)
    for index in range(3):
        storage.write_chunk(UPLOAD, index, bytes([index]) * (200 * 1024))

    with pytest.raises(InsufficientStorage):
        storage.assemble(UPLOAD, total_chunks=3, size=3 * 200 * 1024)

    assert sorted(storage.present_chunks(UPLOAD)) == [0, 1, 2]
    assert [p for p in (small_disk / "files").iterdir()] == []
