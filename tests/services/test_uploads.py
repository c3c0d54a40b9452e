"""The uploads service on SQLite + memory and on PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentos.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientStorage,
    NotFound,
)
from agentos.services.base import CallContext, Principal
from agentos.services.upload_storage import UploadStorage
from agentos.services.uploads import UploadsService
from tests.fixtures.jobs import (
    Stores,
    register_agent,
    staff_ctx,
    user_ctx,
)

CHUNK = 64 * 1024


def uploads(stores: Stores) -> UploadsService:
    service: UploadsService = stores.services["uploads"]  # type: ignore[assignment]
    return service


def chunks_of(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


async def open_upload(
    stores: Stores, ctx: CallContext, data: bytes, **changes: Any
) -> dict[str, Any]:
    """Init an upload of ``data`` in 64 KiB chunks."""
    declared = {
        "filename": "clip.mp4", "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(), "chunk_size": CHUNK,
        "content_type": "video/mp4", **changes,
    }
    return await uploads(stores).init(ctx, **declared)


async def send_all(
    stores: Stores, ctx: CallContext, upload: dict[str, Any], data: bytes
) -> None:
    """Send every chunk of ``data``, last first."""
    parts = list(enumerate(chunks_of(data, upload["chunk_size"])))
    for index, part in reversed(parts):
        await uploads(stores).put_chunk(ctx, upload_id=upload["id"], index=index,
                                        data=part)


async def test_an_upload_in_reverse_order_is_stored_and_verified(
    stores: Stores,
) -> None:
    """Chunks out of order assemble into the declared file under files/."""
    owner, data = user_ctx(), os.urandom(3 * CHUNK + 123)
    upload = await open_upload(stores, owner, data)

    await send_all(stores, owner, upload, data)
    done = await uploads(stores).finalize(owner, upload_id=upload["id"])

    stored = uploads(stores).storage.data_dir / done["storage_path"]
    assert done["status"] == "complete"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == upload["sha256"]
    assert not uploads(stores).storage.chunk_dir(upload["id"]).exists()


async def test_status_reports_bytes_received_and_missing_chunks(
    stores: Stores,
) -> None:
    """After chunks 0 and 2 of 4 arrive, 1 and 3 are listed as missing."""
    owner, data = user_ctx(), os.urandom(3 * CHUNK + 10)
    upload = await open_upload(stores, owner, data)
    parts = chunks_of(data)

    for index in (0, 2):
        await uploads(stores).put_chunk(owner, upload_id=upload["id"], index=index,
                                        data=parts[index])
    status = await uploads(stores).status(owner, upload_id=upload["id"])

    assert status["missing_chunks"] == [1, 3]
    assert status["received_bytes"] == 2 * CHUNK
    assert status["total_chunks"] == 4


async def test_finalize_with_a_chunk_missing_is_refused_and_keeps_the_rest(
    stores: Stores,
) -> None:
    """400 names the missing chunk; the upload stays open for it."""
    owner, data = user_ctx(), os.urandom(2 * CHUNK)
    upload = await open_upload(stores, owner, data)
    await uploads(stores).put_chunk(owner, upload_id=upload["id"], index=0,
                                    data=data[:CHUNK])

    with pytest.raises(BadRequest) as caught:
        await uploads(stores).finalize(owner, upload_id=upload["id"])

    status = await uploads(stores).status(owner, upload_id=upload["id"])
    assert caught.value.details[0]["missing_chunks"] == [1]
    assert status["status"] == "open"
    assert status["received_chunks"] == 1


async def test_a_wrong_checksum_keeps_the_chunks_for_a_retry(stores: Stores) -> None:
    """A corrupted chunk fails verification; resending it lets finalize pass."""
    owner, data = user_ctx(), os.urandom(2 * CHUNK)
    upload = await open_upload(stores, owner, data)
    await send_all(stores, owner, upload, data)
    await uploads(stores).put_chunk(owner, upload_id=upload["id"], index=1,
                                    data=b"\0" * CHUNK)

    with pytest.raises(BadRequest, match="does not match"):
        await uploads(stores).finalize(owner, upload_id=upload["id"])
    assert (await uploads(stores).status(owner, upload_id=upload["id"]))[
        "received_chunks"] == 2
    await uploads(stores).put_chunk(owner, upload_id=upload["id"], index=1,
                                    data=data[CHUNK:])
    done = await uploads(stores).finalize(owner, upload_id=upload["id"])

    assert done["status"] == "complete"
    assert not list(uploads(stores).storage.files_root.glob(".*.partial"))


async def test_an_empty_file_finalizes_without_chunks(stores: Stores) -> None:
    """A 0-byte upload has no chunks and becomes an empty stored file."""
    owner = user_ctx()
    upload = await open_upload(stores, owner, b"")

    with pytest.raises(BadRequest, match="no chunks"):
        await uploads(stores).put_chunk(owner, upload_id=upload["id"], index=0,
                                        data=b"")
    done = await uploads(stores).finalize(owner, upload_id=upload["id"])

    path = uploads(stores).storage.data_dir / done["storage_path"]
    assert upload["total_chunks"] == 0
    assert path.read_bytes() == b""


async def test_of_two_finalize_calls_at_once_exactly_one_assembles(
    stores: Stores,
) -> None:
    """One call completes the upload; the other is 409, whichever comes second."""
    owner, data = user_ctx(), os.urandom(8 * CHUNK)
    upload = await open_upload(stores, owner, data)
    await send_all(stores, owner, upload, data)

    results = await asyncio.gather(
        uploads(stores).finalize(owner, upload_id=upload["id"]),
        uploads(stores).finalize(owner, upload_id=upload["id"]),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["Conflict", "dict"]
    assert [p.name for p in uploads(stores).storage.files_root.iterdir()] == [
        upload["id"]
    ]


async def test_a_complete_upload_takes_no_more_chunks(stores: Stores) -> None:
    """After finalize, a chunk or another finalize is 409."""
    owner, data = user_ctx(), os.urandom(CHUNK)
    upload = await open_upload(stores, owner, data)
    await send_all(stores, owner, upload, data)
    await uploads(stores).finalize(owner, upload_id=upload["id"])

    with pytest.raises(Conflict, match="complete"):
        await uploads(stores).put_chunk(owner, upload_id=upload["id"], index=0,
                                        data=data)
    with pytest.raises(Conflict):
        await uploads(stores).finalize(owner, upload_id=upload["id"])


def small_disk(root: Path, capacity: int) -> UploadStorage:
    """Storage on ``root`` that sees a disk of ``capacity`` bytes: free space is
    what the upload chunks and files under ``root`` leave of it."""

    def free(_: Path) -> int:
        folders = (root / "uploads", root / "files")
        used = sum(p.stat().st_size for f in folders for p in f.rglob("*")
                   if p.is_file())
        return capacity - used

    return UploadStorage(root, free_bytes=free, reserve_bytes=0)


async def test_a_full_disk_at_finalize_is_507_and_nothing_is_presented(
    stores: Stores,
) -> None:
    """A disk with room for the chunks but not for the assembled copy: 507,
    no file under files/, the upload open with its chunks; with more room the
    same finalize succeeds.

    The disk is simulated through the storage's configurable free-space check
    (capacity minus the bytes stored under the data directory); the tmpfs
    tests in test_upload_storage meet a real full disk.
    """
    service = uploads(stores)
    owner, data = user_ctx(), os.urandom(4 * CHUNK)
    root = service.storage.data_dir
    service.storage = small_disk(root, capacity=6 * CHUNK)
    upload = await open_upload(stores, owner, data)
    await send_all(stores, owner, upload, data)

    with pytest.raises(InsufficientStorage):
        await service.finalize(owner, upload_id=upload["id"])
    status = await service.status(owner, upload_id=upload["id"])
    presented = list(service.storage.files_root.iterdir())
    service.storage = small_disk(root, capacity=10 * CHUNK)
    done = await service.finalize(owner, upload_id=upload["id"])

    assert (status["status"], status["received_chunks"]) == ("open", 4)
    assert presented == []
    assert done["status"] == "complete"


async def test_init_refuses_a_file_the_disk_cannot_hold(stores: Stores) -> None:
    """Declaring more bytes than the disk has free is 507 before any chunk."""
    service = uploads(stores)
    service.storage = small_disk(service.storage.data_dir, capacity=CHUNK)

    with pytest.raises(InsufficientStorage):
        await open_upload(stores, user_ctx(), os.urandom(2 * CHUNK))

    assert (await service.list_uploads(staff_ctx("admin")))[1] == 0


async def test_another_users_upload_is_not_found(stores: Stores) -> None:
    """A user cannot see, send to or finalize someone else's upload."""
    owner, stranger = user_ctx(), user_ctx()
    upload = await open_upload(stores, owner, b"x" * 10)

    for call in (
        uploads(stores).status(stranger, upload_id=upload["id"]),
        uploads(stores).put_chunk(stranger, upload_id=upload["id"], index=0,
                                  data=b"x" * 10),
        uploads(stores).finalize(stranger, upload_id=upload["id"]),
    ):
        with pytest.raises(NotFound):
            await call


async def test_readers_see_every_upload_but_change_none(stores: Stores) -> None:
    """readonly lists other users' uploads but may not send a chunk."""
    owner = user_ctx()
    upload = await open_upload(stores, owner, b"x" * 10)
    readonly = staff_ctx("readonly")

    listed, total = await uploads(stores).list_uploads(readonly)
    with pytest.raises(Forbidden):
        await uploads(stores).put_chunk(readonly, upload_id=upload["id"], index=0,
                                        data=b"x" * 10)

    assert upload["id"] in [u["id"] for u in listed]
    assert total >= 1


async def test_a_user_lists_only_their_own_uploads(stores: Stores) -> None:
    """The list of a user holds their uploads only, newest first."""
    owner, stranger = user_ctx(), user_ctx()
    first = await open_upload(stores, owner, b"a")
    second = await open_upload(stores, owner, b"b")
    await open_upload(stores, stranger, b"c")

    listed, total = await uploads(stores).list_uploads(owner)

    assert total == 2
    assert [u["id"] for u in listed] == [second["id"], first["id"]]


async def test_a_subject_that_is_no_user_id_owns_its_uploads(stores: Stores) -> None:
    """A token for 'ci-bot' opens an upload it owns, stored under that name."""
    ctx = CallContext(principal=Principal(subject="ci-bot", roles=("admin",)))

    upload = await open_upload(stores, ctx, b"x")

    stored = await stores.db.fetchval("SELECT owner_id FROM uploads WHERE id = $1",
                                      upload["id"])
    assert upload["owner_id"] == stored == "ci-bot"


async def test_a_subject_over_255_characters_cannot_upload(stores: Stores) -> None:
    """A subject longer than the owner column is a 403 that says why."""
    ctx = CallContext(principal=Principal(subject="s" * 256, roles=("admin",)))

    with pytest.raises(Forbidden, match="255"):
        await open_upload(stores, ctx, b"x")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        pytest.param({"filename": "../../etc/passwd"}, "separator", id="traversal"),
        pytest.param({"filename": "a\x00b"}, "U+0000", id="nul"),
        pytest.param({"filename": "a" * 300}, "300", id="300-characters"),
        pytest.param({"size": -1}, "size", id="negative-size"),
        pytest.param({"chunk_size": 10}, "chunk_size", id="chunk-too-small"),
        pytest.param({"chunk_size": 10**9}, "chunk_size", id="chunk-too-large"),
        pytest.param({"sha256": "abc"}, "sha256", id="short-checksum"),
        pytest.param({"content_type": "not a type"}, "content_type", id="bad-type"),
    ],
)
async def test_a_bad_declaration_opens_no_upload(
    stores: Stores, changes: dict[str, Any], fragment: str
) -> None:
    """Each bad field is 400 naming it; no upload row is written."""
    owner = user_ctx()

    with pytest.raises(BadRequest) as caught:
        await open_upload(stores, owner, b"data", **changes)

    assert fragment in caught.value.message + str(caught.value.details)
    assert (await uploads(stores).list_uploads(owner))[1] == 0


async def test_finalize_can_create_a_job_from_the_stored_file(stores: Stores) -> None:
    """A job asked for at finalize is created from the complete upload."""
    agent = await register_agent(stores.db)
    owner, data = user_ctx(), os.urandom(CHUNK)
    upload = await open_upload(stores, owner, data)
    await send_all(stores, owner, upload, data)

    done = await uploads(stores).finalize(
        owner, upload_id=upload["id"],
        job={"kind": agent["kind"], "params": {"start_ms": 0, "end_ms": 500}},
    )

    job = await stores.services["jobs"].get(owner, job_id=done["job"]["id"])
    assert job["upload_id"] == upload["id"]
    assert (await uploads(stores).status(owner, upload_id=upload["id"]))[
        "job_id"] == job["id"]


async def test_a_bad_job_request_is_refused_before_assembly(stores: Stores) -> None:
    """Params that the kind refuses are 400 and the upload stays open."""
    agent = await register_agent(stores.db)
    owner, data = user_ctx(), os.urandom(CHUNK)
    upload = await open_upload(stores, owner, data)
    await send_all(stores, owner, upload, data)

    with pytest.raises(BadRequest):
        await uploads(stores).finalize(
            owner, upload_id=upload["id"],
            job={"kind": agent["kind"], "params": {"start_ms": -5}},
        )

    assert (await uploads(stores).status(owner, upload_id=upload["id"]))[
        "status"] == "open"


async def test_stale_open_uploads_expire_and_free_their_chunks(stores: Stores) -> None:
    """An upload idle longer than the limit expires; its chunks are deleted."""
    owner, data = user_ctx(), os.urandom(2 * CHUNK)
    upload = await open_upload(stores, owner, data)
    await uploads(stores).put_chunk(owner, upload_id=upload["id"], index=0,
                                    data=data[:CHUNK])
    await stores.db.execute(
        "UPDATE uploads SET updated_at = $1 WHERE id = $2",
        datetime.now(UTC) - timedelta(hours=5), upload["id"],
    )

    result = await uploads(stores).expire_stale(staff_ctx("admin"), hours=4)

    assert upload["id"] in result["upload_ids"]
    assert (await uploads(stores).status(owner, upload_id=upload["id"]))[
        "status"] == "expired"
    assert not uploads(stores).storage.chunk_dir(upload["id"]).exists()


async def stuck_finalizing(
    stores: Stores, owner: CallContext, data: bytes, *, minutes_ago: float
) -> dict[str, Any]:
    """An upload with every chunk sent, left ``finalizing`` as a crash leaves it."""
    upload = await open_upload(stores, owner, data)
    await send_all(stores, owner, upload, data)
    await stores.db.execute(
        "UPDATE uploads SET status = 'finalizing', updated_at = $1 WHERE id = $2",
        datetime.now(UTC) - timedelta(minutes=minutes_ago), upload["id"],
    )
    return upload


async def test_an_upload_stuck_finalizing_past_the_grace_is_reopened(
    stores: Stores,
) -> None:
    """The sweep reopens a crashed finalize; the client's retry completes it."""
    owner, data = user_ctx(), os.urandom(2 * CHUNK)
    grace = stores.services["uploads"].settings.uploads.finalize_grace_seconds
    upload = await stuck_finalizing(stores, owner, data, minutes_ago=grace / 60 + 1)

    result = await uploads(stores).expire_stale(staff_ctx("admin"), hours=4)
    status = await uploads(stores).status(owner, upload_id=upload["id"])
    retried = await uploads(stores).finalize(owner, upload_id=upload["id"])

    assert result["reopened_ids"] == [upload["id"]]
    assert result["upload_ids"] == []
    assert (status["status"], status["missing_count"]) == ("open", 0)
    assert retried["status"] == "complete"
    root = Path(stores.services["uploads"].settings.data_dir)
    assert (root / retried["storage_path"]).read_bytes() == data


async def test_an_upload_finalizing_within_the_grace_is_left_alone(
    stores: Stores,
) -> None:
    """A finalize younger than the grace may still be assembling: untouched."""
    owner, data = user_ctx(), os.urandom(CHUNK)
    upload = await stuck_finalizing(stores, owner, data, minutes_ago=1)

    result = await uploads(stores).expire_stale(staff_ctx("admin"), hours=1)

    assert result["reopened"] == 0
    status = await uploads(stores).status(owner, upload_id=upload["id"])
    assert status["status"] == "finalizing"
    assert uploads(stores).storage.chunk_dir(upload["id"]).exists()


async def test_a_reopened_upload_whose_chunks_were_lost_lists_them_missing(
    stores: Stores,
) -> None:
    """Chunks gone from disk show as missing, so the client resends them."""
    owner, data = user_ctx(), os.urandom(2 * CHUNK)
    upload = await stuck_finalizing(stores, owner, data, minutes_ago=60)
    uploads(stores).storage.remove_chunks(upload["id"])

    await uploads(stores).expire_stale(staff_ctx("admin"), hours=4)
    status = await uploads(stores).status(owner, upload_id=upload["id"])
    with pytest.raises(BadRequest, match="missing"):
        await uploads(stores).finalize(owner, upload_id=upload["id"])
    await send_all(stores, owner, upload, data)
    done = await uploads(stores).finalize(owner, upload_id=upload["id"])

    assert (status["status"], status["missing_chunks"]) == ("open", [0, 1])
    assert done["status"] == "complete"
