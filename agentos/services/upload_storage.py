"""Upload chunks and assembled files on disk, written so that none is half there.

Layout under the data directory (a shared volume when several hosts serve)::

    uploads/<upload id>/<index>.chunk     one file per received chunk
    files/<upload id>                     the assembled, verified file

Every file is written under a unique temporary name in its final directory,
flushed to disk, and only then renamed to its final name, which is atomic on
a POSIX file system: a reader sees either no file or the whole file, never a
part. The assembled file is checked (size and SHA-256) before its rename, so
a file under ``files/`` is always a complete, verified upload.

Disk room. Before writing, the store asks ``free_bytes`` how much room the
disk has and refuses with 507 ``INSUFFICIENT_STORAGE`` when the write would
leave less than ``reserve_bytes``. A disk that fills up anyway (another
writer) fails the write with ENOSPC, which is answered the same way after
the partial temporary file is removed. ``free_bytes`` is a parameter so that
an operator can run with a quota smaller than the volume, and tests can give
the store a small disk.

These functions block; the service runs them in a thread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from agentos.errors import InsufficientStorage

if TYPE_CHECKING:
    from hashlib import _Hash

BLOCK_BYTES = 1024 * 1024
DEFAULT_RESERVE_BYTES = 16 * 1024 * 1024
"""Room left free for the database, logs and other writers."""

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def disk_free(path: Path) -> int:
    """Bytes free for unprivileged writers on the file system holding ``path``."""
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class Assembled:
    """A verified-size file written under a temporary name, not yet published."""

    path: Path
    size: int
    sha256: str


class UploadStorage:
    """Chunks and assembled files of uploads under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        free_bytes: Callable[[Path], int] = disk_free,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.chunks_root = self.data_dir / "uploads"
        self.files_root = self.data_dir / "files"
        self.free_bytes = free_bytes
        self.reserve_bytes = reserve_bytes

    # -- paths ---------------------------------------------------------------

    def chunk_dir(self, upload_id: str) -> Path:
        return self.chunks_root / upload_id

    def chunk_path(self, upload_id: str, index: int) -> Path:
        return self.chunk_dir(upload_id) / f"{index:06d}.chunk"

    def file_path(self, upload_id: str) -> Path:
        return self.files_root / upload_id

    def relative(self, path: Path) -> str:
        """``path`` relative to the data directory, as rows record it."""
        return path.relative_to(self.data_dir).as_posix()

    # -- chunks ----------------------------------------------------------------

    def write_chunk(self, upload_id: str, index: int, data: bytes) -> None:
        """Store chunk ``index``, replacing an earlier copy atomically."""
        folder = self.chunk_dir(upload_id)
        self.ensure_room(folder, len(data))
        with self._temporary(folder) as (temporary, handle), _disk_full_is_507():
            handle.write(data)
            _flush(handle)
            os.replace(temporary, self.chunk_path(upload_id, index))

    def present_chunks(self, upload_id: str) -> dict[int, int]:
        """Index to size of every chunk on disk for the upload."""
        folder = self.chunk_dir(upload_id)
        if not folder.is_dir():
            return {}
        present = {}
        for entry in os.scandir(folder):
            stem, _, suffix = entry.name.partition(".")
            if suffix == "chunk" and stem.isdigit():
                present[int(stem)] = entry.stat().st_size
        return present

    def remove_chunks(self, upload_id: str) -> None:
        """Free the upload's chunks (after publishing, or when it expires)."""
        shutil.rmtree(self.chunk_dir(upload_id), ignore_errors=True)

    # -- assembly ------------------------------------------------------------------

    def assemble(self, upload_id: str, total_chunks: int, size: int) -> Assembled:
        """Concatenate the chunks into a temporary file and hash it on the way."""
        self.ensure_room(self.files_root, size)
        digest, written = hashlib.sha256(), 0
        with (
            self._temporary(self.files_root, keep=True) as (temporary, handle),
            _disk_full_is_507(),
        ):
            for index in range(total_chunks):
                written += _copy(self.chunk_path(upload_id, index), handle, digest)
            _flush(handle)
        return Assembled(path=temporary, size=written, sha256=digest.hexdigest())

    def publish(self, assembled: Assembled, upload_id: str) -> Path:
        """Rename a verified file to its final name; return that name."""
        final = self.file_path(upload_id)
        os.replace(assembled.path, final)
        _sync_directory(final.parent)
        return final

    @staticmethod
    def discard(assembled: Assembled) -> None:
        """Remove a temporary file that failed verification."""
        with suppress(FileNotFoundError):
            assembled.path.unlink()

    # -- room ------------------------------------------------------------------------

    def ensure_room(self, folder: Path, needed: int) -> None:
        """Raise 507 unless writing ``needed`` bytes leaves the reserve free."""
        folder.mkdir(parents=True, exist_ok=True)
        free = self.free_bytes(folder)
        if free - needed >= self.reserve_bytes:
            return
        raise InsufficientStorage(
            f"The upload storage has {max(free, 0)} bytes free and this write needs "
            f"{needed} plus a reserve of {self.reserve_bytes}; nothing was stored. "
            "Retry when an operator has freed space.",
            details=[{"free_bytes": max(free, 0), "needed_bytes": needed,
                      "reserve_bytes": self.reserve_bytes}],
        )

    @contextmanager
    def _temporary(
        self, folder: Path, *, keep: bool = False
    ) -> Iterator[tuple[Path, BinaryIO]]:
        # The temporary file lives in the target folder so the rename stays
        # on one file system; it is removed on any failure, and after success
        # too unless ``keep`` hands it over (assemble -> publish).
        temporary = folder / f".{uuid.uuid4().hex}.partial"
        try:
            with temporary.open("xb") as handle:
                yield temporary, handle
        except BaseException:
            with suppress(FileNotFoundError):
                temporary.unlink()
            raise
        if not keep:
            with suppress(FileNotFoundError):
                temporary.unlink()


def _copy(source: Path, handle: BinaryIO, digest: _Hash) -> int:
    copied = 0
    with source.open("rb") as chunk:
        while block := chunk.read(BLOCK_BYTES):
            handle.write(block)
            digest.update(block)
            copied += len(block)
    return copied


def _flush(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def _disk_full_is_507() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno not in _DISK_FULL:
            raise
        raise InsufficientStorage(
            "The disk filled up while the upload was written; the partial file was "
            "removed and nothing is presented as stored. Retry when space is freed."
        ) from exc
