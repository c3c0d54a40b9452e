"""``/api/upload``: chunked uploads over HTTP on a running server, both backends.

Every test uploads as users of its own (fresh subjects), so lists and counts
never see another test's uploads.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentos.routes import upload_models as m
from tests.fixtures.app import AppMaker, RunningApp

MIB = 1024 * 1024
CHUNK = 64 * 1024
OCTET = {"Content-Type": "application/octet-stream"}


class Uploader:
    """One user of the running API, sending files in chunks."""

    def __init__(
        self, api: RunningApp, role: str = "user", subject: str | None = None
    ) -> None:
        self.api = api
        self.subject = subject or str(uuid.uuid4())
        self.headers = api.auth(self.subject, role)

    async def init(self, data: bytes, **changes: Any) -> Any:
        body = {
            "filename": "talk.mp4", "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": "video/mp4", "chunk_size": CHUNK, **changes,
        }
        return await self.api.client.post("/api/upload/init", json=body,
                                          headers=self.headers)

    async def open(self, data: bytes, **changes: Any) -> dict[str, Any]:
        response = await self.init(data, **changes)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    async def chunk(self, upload_id: str, index: int, part: bytes | Any) -> Any:
        return await self.api.client.post(
            f"/api/upload/chunk?upload_id={upload_id}&index={index}", content=part,
            headers={**self.headers, **OCTET},
        )

    async def send(
        self, upload: dict[str, Any], data: bytes, order: list[int] | None = None
    ) -> None:
        size = upload["chunk_size"]
        for index in order if order is not None else range(upload["total_chunks"]):
            response = await self.chunk(upload["id"], index,
                                        data[index * size:(index + 1) * size])
            assert response.status_code == 200, response.text

    async def finalize(self, upload_id: str, **extra: Any) -> Any:
        return await self.api.client.post(
            "/api/upload/finalize", json={"upload_id": upload_id, **extra},
            headers=self.headers,
        )

    async def status(self, upload_id: str) -> Any:
        return await self.api.client.get(f"/api/upload/status/{upload_id}",
                                         headers=self.headers)


def stored_file(api: RunningApp, upload: dict[str, Any]) -> Path:
    return Path(api.settings.data_dir) / upload["storage_path"]


# -- the happy path ---------------------------------------------------------------


async def test_a_20_mb_file_sent_out_of_order_reads_back_identical(
    api: RunningApp,
) -> None:
    """Five 4 MiB chunks in shuffled order assemble into the same SHA-256."""
    user, data = Uploader(api), os.urandom(20 * MIB)
    upload = await user.open(data, chunk_size=4 * MIB)
    order = list(range(upload["total_chunks"]))
    random.Random(7).shuffle(order)

    await user.send(upload, data, order)
    response = await user.finalize(upload["id"])

    done = m.UploadInfo.model_validate(response.json()["data"])
    digest = hashlib.sha256(stored_file(api, response.json()["data"]).read_bytes())
    assert response.status_code == 200
    assert (done.status, done.size, upload["total_chunks"]) == ("complete", 20 * MIB, 5)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest() == done.sha256


async def test_status_shows_progress_and_a_repeated_chunk_is_harmless(
    api: RunningApp,
) -> None:
    """Chunks 2 and 0 (twice) of 3: 2 received, 1 missing, bytes counted once."""
    user, data = Uploader(api), os.urandom(2 * CHUNK + 100)
    upload = await user.open(data)

    await user.send(upload, data, [2, 0, 0])
    progress = (await user.status(upload["id"])).json()["data"]
    await user.send(upload, data, [1])

    assert progress["missing_chunks"] == [1]
    assert progress["received_bytes"] == CHUNK + 100
    assert (await user.finalize(upload["id"])).status_code == 200


async def test_an_empty_file_is_finalized_without_chunks(api: RunningApp) -> None:
    """A 0-byte upload takes no chunk and is stored as an empty file."""
    user = Uploader(api)
    upload = await user.open(b"")

    chunk = await user.chunk(upload["id"], 0, b"")
    done = await user.finalize(upload["id"])

    assert chunk.status_code == 400
    assert done.status_code == 200
    assert stored_file(api, done.json()["data"]).read_bytes() == b""


async def test_the_list_holds_the_callers_uploads_newest_first(
    api: RunningApp,
) -> None:
    """A user lists their own uploads; another user's do not appear."""
    user, other = Uploader(api), Uploader(api)
    first, second = await user.open(b"a"), await user.open(b"b")
    await other.open(b"c")

    response = await api.client.get("/api/upload?per_page=1", headers=user.headers)

    body = response.json()
    assert [u["id"] for u in body["data"]] == [second["id"]]
    assert body["pagination"]["total"] == 2
    m.UploadSummary.model_validate(body["data"][0])
    assert first["id"] != second["id"]


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        pytest.param({"filename": "../../etc/passwd"}, "separator", id="dot-dot-slash"),
        pytest.param({"filename": "evil\u0000.mp4"}, "U+0000", id="nul"),
        pytest.param({"filename": "a" * 300}, "300 characters", id="300-characters"),
        pytest.param({"owner_id": str(uuid.uuid4())}, "owner_id", id="owner-field"),
        pytest.param({"status": "complete"}, "status", id="status-field"),
        pytest.param({"size": "big"}, "size", id="size-not-a-number"),
        pytest.param({"chunk_size": 1}, "chunk_size", id="chunk-too-small"),
        pytest.param({"sha256": "0" * 63}, "sha256", id="short-checksum"),
    ],
)
async def test_a_bad_init_is_400_and_opens_nothing(
    api: RunningApp, changes: dict[str, Any], fragment: str
) -> None:
    """Each bad or forbidden field is named; the user still has no upload."""
    user = Uploader(api)

    response = await user.init(b"data", **changes)

    listed = await api.client.get("/api/upload", headers=user.headers)
    assert response.status_code == 400
    assert fragment in response.text
    assert listed.json()["pagination"]["total"] == 0


@pytest.mark.parametrize(
    ("query", "body", "status"),
    [
        pytest.param("index=5", b"x" * CHUNK, 400, id="index-past-the-end"),
        pytest.param("index=-1", b"x" * CHUNK, 400, id="negative-index"),
        pytest.param("index=0", b"x" * 10, 400, id="chunk-too-short"),
        pytest.param("index=0", b"x" * (CHUNK + 1), 400, id="chunk-too-long"),
        pytest.param("", b"x" * CHUNK, 400, id="no-index"),
    ],
)
async def test_a_bad_chunk_is_refused_and_stores_nothing(
    api: RunningApp, query: str, body: bytes, status: int
) -> None:
    """Wrong sizes and indexes outside the file are 400; nothing is received."""
    user, data = Uploader(api), os.urandom(2 * CHUNK)
    upload = await user.open(data)

    response = await api.client.post(
        f"/api/upload/chunk?upload_id={upload['id']}&{query}", content=body,
        headers={**user.headers, **OCTET},
    )

    progress = (await user.status(upload["id"])).json()["data"]
    assert response.status_code == status
    assert progress["received_chunks"] == 0


async def test_a_streamed_chunk_that_runs_long_is_cut_off(api: RunningApp) -> None:
    """Without Content-Length, reading stops once the body passes the chunk size."""
    user, data = Uploader(api), os.urandom(2 * CHUNK)
    upload = await user.open(data)

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * CHUNK

    response = await user.chunk(upload["id"], 0, endless())

    assert response.status_code == 400
    assert "more than" in response.json()["error"]


@pytest.mark.parametrize(
    ("upload_id", "status"),
    [
        pytest.param("not-a-uuid", 400, id="non-uuid"),
        pytest.param(str(uuid.uuid4()), 404, id="unknown"),
    ],
)
async def test_chunks_and_status_of_a_bad_upload_id(
    api: RunningApp, upload_id: str, status: int
) -> None:
    """A malformed id is 400, an unknown one 404, on every upload route."""
    user = Uploader(api)

    chunk = await user.chunk(upload_id, 0, b"x")
    progress = await user.status(upload_id)
    finalize = await user.finalize(upload_id)

    assert (chunk.status_code, progress.status_code, finalize.status_code) == (
        status, status, status
    )


async def test_a_chunk_must_be_sent_as_octet_stream(api: RunningApp) -> None:
    """A JSON or form body on the chunk route is 415."""
    user = Uploader(api)
    upload = await user.open(b"x" * 10)

    response = await api.client.post(
        f"/api/upload/chunk?upload_id={upload['id']}&index=0", json={"data": "x"},
        headers=user.headers,
    )

    assert response.status_code == 415


async def test_a_body_over_the_request_limit_is_413(make_app: AppMaker) -> None:
    """The server's body limit applies to chunks too."""
    api = await make_app(request_max_bytes=128 * 1024)
    user = Uploader(api)
    upload = await user.open(os.urandom(CHUNK))

    response = await user.chunk(upload["id"], 0, b"x" * (256 * 1024))

    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"


async def test_a_chunk_size_the_server_cannot_take_is_refused_at_init(
    make_app: AppMaker,
) -> None:
    """chunk_size above the body limit could never be sent: 400 at once."""
    api = await make_app(request_max_bytes=128 * 1024)

    response = await Uploader(api).init(os.urandom(10), chunk_size=256 * 1024)

    assert response.status_code == 400
    assert "chunk_size" in response.text


# -- finalize ------------------------------------------------------------------------


async def test_finalize_with_a_chunk_missing_keeps_the_others(api: RunningApp) -> None:
    """400 lists the missing chunk; after sending it, finalize succeeds."""
    user, data = Uploader(api), os.urandom(3 * CHUNK)
    upload = await user.open(data)
    await user.send(upload, data, [0, 2])

    refused = await user.finalize(upload["id"])
    await user.send(upload, data, [1])
    accepted = await user.finalize(upload["id"])

    assert refused.status_code == 400
    assert refused.json()["details"][0]["missing_chunks"] == [1]
    assert accepted.status_code == 200


async def test_a_wrong_sha256_is_400_and_the_chunks_wait_for_a_retry(
    api: RunningApp,
) -> None:
    """Verification fails, nothing is stored, the upload stays open with its
    chunks; the corrected chunk lets the next finalize pass."""
    user, data = Uploader(api), os.urandom(2 * CHUNK)
    upload = await user.open(data)
    await user.send(upload, data[:CHUNK] + b"\0" * CHUNK)

    refused = await user.finalize(upload["id"])
    progress = (await user.status(upload["id"])).json()["data"]
    await user.send(upload, data, [1])
    accepted = await user.finalize(upload["id"])

    assert refused.status_code == 400
    assert refused.json()["details"][0]["expected"] == upload["sha256"]
    assert (progress["status"], progress["received_chunks"]) == ("open", 2)
    assert progress["storage_path"] is None
    assert accepted.status_code == 200


async def test_two_finalize_calls_at_once_one_assembles_the_other_is_409(
    api: RunningApp,
) -> None:
    """Exactly one call completes the upload; the other gets CONFLICT."""
    user, data = Uploader(api), os.urandom(4 * MIB)
    upload = await user.open(data, chunk_size=MIB)
    await user.send(upload, data)

    first, second = await asyncio.gather(user.finalize(upload["id"]),
                                         user.finalize(upload["id"]))

    assert sorted([first.status_code, second.status_code]) == [200, 409]
    files = list((Path(api.settings.data_dir) / "files").iterdir())
    assert [f.name for f in files] == [upload["id"]]


async def test_finalize_can_start_a_job_on_the_stored_file(api: RunningApp) -> None:
    """The seeded clipper's clip.cut job is created from the upload."""
    user, data = Uploader(api), os.urandom(CHUNK)
    upload = await user.open(data)
    await user.send(upload, data)

    response = await user.finalize(upload["id"], job={
        "kind": "clip.cut",
        "params": {"source": upload["id"], "start_ms": 0, "end_ms": 500},
    })

    job_id = response.json()["data"]["job"]["id"]
    job = await api.client.get(f"/api/jobs/{job_id}", headers=user.headers)
    assert response.status_code == 200
    assert job.json()["data"]["upload_id"] == upload["id"]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 7 MiB tmpfs (root only), unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=7m", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


async def test_a_full_disk_is_507_and_never_a_half_file(
    make_app: AppMaker, tiny_disk: Path
) -> None:
    """The data directory is a real 7 MiB tmpfs: a 4 MiB file's chunks fit, its
    assembled copy does not. Finalize is 507 INSUFFICIENT_STORAGE, nothing is
    presented under files/, the chunks stay; once the tmpfs is grown (remount),
    the same finalize succeeds. The storage's reserve is set to 0 for a disk
    this small; free space comes from the kernel (statvfs)."""
    api = await make_app(data_dir=tiny_disk)
    api.services["uploads"].storage.reserve_bytes = 0
    user, data = Uploader(api), os.urandom(4 * MIB)
    upload = await user.open(data, chunk_size=MIB)
    await user.send(upload, data)

    full = await user.finalize(upload["id"])
    progress = (await user.status(upload["id"])).json()["data"]
    presented = list((tiny_disk / "files").glob("*"))
    subprocess.run(["mount", "-o", "remount,size=16m", str(tiny_disk)], check=True)
    retried = await user.finalize(upload["id"])

    assert full.status_code == 507
    assert full.json()["error_code"] == "INSUFFICIENT_STORAGE"
    assert presented == []
    assert (progress["status"], progress["received_chunks"]) == ("open", 4)
    assert retried.status_code == 200
    assert hashlib.sha256(stored_file(api, retried.json()["data"]).read_bytes()
                          ).hexdigest() == upload["sha256"]


# -- access ----------------------------------------------------------------------------


async def test_another_users_upload_answers_404_everywhere(api: RunningApp) -> None:
    """Status, chunk and finalize of someone else's upload do not reveal it."""
    owner, stranger = Uploader(api), Uploader(api)
    upload = await owner.open(b"x" * 10)

    responses = [
        await stranger.status(upload["id"]),
        await stranger.chunk(upload["id"], 0, b"x" * 10),
        await stranger.finalize(upload["id"]),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert (await owner.status(upload["id"])).json()["data"]["received_chunks"] == 0


async def test_a_subject_that_is_no_user_id_uploads_and_keeps_it_private(
    api: RunningApp,
) -> None:
    """'ops-alice' opens, sends, finalizes, reads and lists her upload; another
    subject that is no user id gets 404 for it and an empty list."""
    alice = Uploader(api, subject=f"ops-alice-{uuid.uuid4().hex[:6]}")
    bob = Uploader(api, subject=f"bench-admin-{uuid.uuid4().hex[:6]}")
    data = os.urandom(CHUNK + 10)

    upload = await alice.open(data)
    await alice.send(upload, data)
    finalized = await alice.finalize(upload["id"])
    status = await alice.status(upload["id"])
    listed = await api.client.get("/api/upload", headers=alice.headers)
    hidden = await bob.status(upload["id"])
    bobs = await api.client.get("/api/upload", headers=bob.headers)

    assert finalized.status_code == 200, finalized.text
    assert status.json()["data"]["owner_id"] == alice.subject
    assert status.json()["data"]["status"] == "complete"
    assert [u["id"] for u in listed.json()["data"]] == [upload["id"]]
    assert hidden.status_code == 404
    assert bobs.json()["data"] == []


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        pytest.param("admin", 200, 200, id="admin"),
        pytest.param("operator", 200, 200, id="operator"),
        pytest.param("supervisor", 200, 403, id="supervisor"),
        pytest.param("readonly", 200, 403, id="readonly"),
    ],
)
async def test_staff_roles_read_every_upload_and_only_some_write(
    api: RunningApp, role: str, read: int, write: int
) -> None:
    """Read-all roles see a user's upload; only admin and operator send to it."""
    owner, staff = Uploader(api), Uploader(api, role)
    upload = await owner.open(b"x" * 10)

    seen = await staff.status(upload["id"])
    sent = await staff.chunk(upload["id"], 0, b"x" * 10)
    opened = await staff.init(b"y")

    assert (seen.status_code, sent.status_code) == (read, write)
    assert opened.status_code == (201 if write == 200 else 403)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/upload/init"), ("POST", "/api/upload/chunk"),
        ("POST", "/api/upload/finalize"), ("GET", f"/api/upload/status/{uuid.uuid4()}"),
        ("GET", "/api/upload"),
    ],
)
async def test_every_upload_route_needs_a_token(
    api: RunningApp, method: str, path: str
) -> None:
    """Without a bearer token each route is 401."""

    response = await api.client.request(method, path)

    assert response.status_code == 401


@pytest.mark.parametrize("query", ["status=lost", "per_page=1000", "page=-1"])
async def test_bad_list_arguments_are_refused(api: RunningApp, query: str) -> None:
    """Unknown statuses and out-of-range pages are 400."""

    response = await api.client.get(f"/api/upload?{query}", headers=api.auth())

    assert response.status_code == 400


async def test_the_upload_routes_are_documented_and_tagged(api: RunningApp) -> None:
    """All five routes are in the OpenAPI document under the uploads tag."""

    document = (await api.client.get("/docs/openapi.json")).json()

    operations = [
        op for path, item in document["paths"].items()
        if path.startswith("/api/upload") for op in item.values()
    ]
    chunk = document["paths"]["/api/upload/chunk"]["post"]
    assert len(operations) == 5
    assert all(op["tags"] == ["uploads"] for op in operations)
    assert "application/octet-stream" in chunk["requestBody"]["content"]
