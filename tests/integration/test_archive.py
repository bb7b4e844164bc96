"""The archiver over real sockets: a tiny media server on 127.0.0.1 and S3 from moto.

The media server speaks just enough HTTP/1.1 to behave like presigned S3: Range requests,
URLs that expire (403), and faults on demand (connections dropped mid-body, a Content-Length
larger than the body, Range ignored, 503s).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote

import httpx
import pytest
from moto.server import ThreadedMotoServer
from s3fs import S3FileSystem

from meetstream_catalog import retry
from meetstream_catalog.archive import archive_all, archive_file
from meetstream_catalog.archive.files import ArchivedMedia, MediaFile
from meetstream_catalog.archive.plan import (
    ArchiveBatchError,
    ArchiveError,
    MediaGoneError,
    storage_key,
)
from meetstream_catalog.archive.storage import open_root
from meetstream_catalog.roots import Root

BOT = "6667fd0c-0165-471a-a880-06a1180be377"
BUCKET = "media-archive"


@dataclass
class Hit:
    name: str
    token: str
    range: str | None
    status: int


@dataclass
class MediaServer:
    """Serves `files` at /<name>?token=<t>. `faults[token]` scripts misbehaviour."""

    files: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)
    expired: set[str] = field(default_factory=set)
    hits: list[Hit] = field(default_factory=list)
    ignore_range: bool = False
    port: int = 0

    def url(self, name: str, token: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}?token={token}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            await self._answer(head, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, head: str, writer: asyncio.StreamWriter) -> None:
        request, *lines = head.split("\r\n")
        target = request.split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        name, _, query = unquote(target.lstrip("/")).partition("?")
        token = parse_qs(query).get("token", [""])[0]
        body, fault, want = self.files.get(name), self.faults.get(token, ""), headers.get("range")
        status, extra, start = 200, {}, 0
        if token in self.expired:
            status, body = 403, b"<Error><Code>AccessDenied</Code></Error>"
        elif body is None:
            status, body = 404, b"not found"
        elif fault.startswith("fail") and int(fault[4:]) > sum(h.token == token for h in self.hits):
            status, body = 503, b"slow down"
        elif want and not self.ignore_range:
            first, _, last = want.removeprefix("bytes=").partition("-")
            start, end = int(first), int(last) if last else len(body) - 1
            if start >= len(body):
                status, extra, body = 416, {"Content-Range": f"bytes */{len(body)}"}, b""
            else:
                status, extra = 206, {"Content-Range": f"bytes {start}-{end}/{len(body)}"}
        self.hits.append(Hit(name, token, want, status))
        view = memoryview(body)[start : (end + 1) if status == 206 else None]
        length = len(view) + (1000 if fault == "short" and status < 300 else 0)
        reason = {200: "OK", 206: "Partial Content", 403: "Forbidden"}.get(status, "X")
        lines_out = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {length}",
                     "Connection: close", *(f"{k}: {v}" for k, v in extra.items())]  # fmt: skip
        writer.write(("\r\n".join(lines_out) + "\r\n\r\n").encode())
        cut = len(view)
        if fault.startswith(("drop:", "expire:")) and status in (200, 206):
            cut = int(fault.split(":")[1])
            del self.faults[token]  # one fault per token
        for offset in range(0, cut, 1 << 16):  # small writes: the server stays lean too
            writer.write(view[offset : min(offset + (1 << 16), cut)])
            await writer.drain()
        if cut < len(view) or fault == "short":
            if fault.startswith("expire:"):
                self.expired.add(token)
            writer.transport.abort()  # the connection dies mid-body


@pytest.fixture
async def media() -> AsyncIterator[MediaServer]:
    server = MediaServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    yield server
    listener.close()
    await listener.wait_closed()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: no proxy from the environment, traffic stays on 127.0.0.1.
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    dummy = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    saved = {k: os.environ.get(k) for k in dummy}
    os.environ.update(dummy)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _s3_options(endpoint: str) -> dict[str, object]:
    # The options Settings.media() gives an s3:// root; credentials come from AWS_* variables.
    return {"client_kwargs": {"endpoint_url": endpoint}}


@pytest.fixture(params=["file", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, object]]:
    """(media_root, storage_options) for a fresh local directory or a fresh moto bucket."""
    if request.param == "file":
        return str(tmp_path / "media"), {}
    endpoint = request.getfixturevalue("moto_endpoint")
    httpx.post(f"{endpoint}/moto-api/reset", trust_env=False).raise_for_status()
    S3FileSystem.clear_instance_cache()
    fs = S3FileSystem(**_s3_options(endpoint))
    fs.mkdir(BUCKET)
    return f"s3://{BUCKET}/archive", _s3_options(endpoint)


def _item(name: str = "Alex Kim", kind: str = "audio", index: int = 0) -> MediaFile:
    key = storage_key(BOT, kind, name, f"{name}-id", index, f"{name}_{index}.webm")
    return MediaFile(bot_id=BOT, kind=kind, participant_name=name, stream_id=f"{name}-id",
                     segment_index=index, filename=f"{name}_{index}.webm", key=key)  # type: ignore[arg-type]  # fmt: skip


class Urls:
    """fetch_url for one file: token t0 first, a new token on every refresh."""

    def __init__(self, server: MediaServer, name: str) -> None:
        self.server, self.name, self.calls = server, name, []

    async def __call__(self, refresh: bool) -> str:
        self.calls.append(refresh)
        return self.server.url(self.name, f"t{sum(self.calls)}")


def _range_start(header: str | None) -> int:
    assert header is not None
    return int(header.removeprefix("bytes=").rstrip("-"))


def _payload(size: int) -> bytes:
    return (bytes(range(251)) * (size // 251 + 1))[:size]


def _stored(media_root: str, options: dict[str, object], key: str) -> bytes | None:
    storage = open_root(Root(media_root, options))
    return None if storage.size_of(key) is None else storage.fs.cat_file(storage.full_path(key))


def _leftovers(media_root: str, options: dict[str, object]) -> list[str]:
    """Temporary files (local) or unfinished multipart uploads (S3) that were left behind."""
    storage = open_root(Root(media_root, options))
    if storage.is_local:
        return [p.name for p in Path(storage.path).rglob("*.part")]
    return [u["Key"] for u in storage.fs.list_multipart_uploads(BUCKET)]


async def _archive(
    item: MediaFile,
    urls: Urls,
    http: httpx.AsyncClient,
    root: tuple[str, dict[str, object]],
    **kw: object,
) -> ArchivedMedia:
    return await archive_file(item, fetch_url=urls, http=http, media_root=Root(*root),
                              **kw)  # type: ignore[arg-type]  # fmt: skip


async def test_a_file_is_archived_with_its_size_and_sha256(media, http, root) -> None:
    data = _payload(3 * 2**20 + 17)
    media.files["a"] = data
    item = _item()
    result = await _archive(item, Urls(media, "a"), http, root, chunk_size=64 * 1024)
    assert (result.bytes, result.sha256, result.copied) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        True,
    )
    assert result.storage_uri.endswith(item.key)
    assert result.storage_uri.startswith(("file:///", f"s3://{BUCKET}/archive/"))
    assert "token" not in result.model_dump_json()
    assert _stored(*root, item.key) == data
    assert _leftovers(*root) == []


async def test_an_s3_file_bigger_than_one_part_uses_multipart_and_verifies(
    media, http, root
) -> None:
    data = _payload(19 * 2**20 + 5)  # three 8 MiB parts on S3
    media.files["big"] = data
    result = await _archive(_item(), Urls(media, "big"), http, root)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert _stored(*root, result.key) == data


async def test_an_expired_url_mid_download_is_refreshed_and_resumed_with_range(
    media, http, root
) -> None:
    data = _payload(1_000_000)
    media.files["a"] = data
    media.faults["t0"] = "expire:300000"
    urls = Urls(media, "a")
    result = await _archive(_item(), urls, http, root, chunk_size=4096)
    assert urls.calls == [False, True]
    ranges = [h.range for h in media.hits]
    assert [(h.token, h.status) for h in media.hits] == [("t0", 200), ("t0", 403), ("t1", 206)]
    # Resumes after the last whole chunk it stored: the bytes that were actually written.
    assert ranges[0] is None
    assert ranges[1] == ranges[2]
    assert 0 < _range_start(ranges[2]) <= 300_000
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert _stored(*root, result.key) == data


async def test_a_dropped_connection_resumes_where_it_stopped(media, http, root) -> None:
    data = _payload(700_000)
    media.files["a"] = data
    media.faults["t0"] = "drop:123457"
    result = await _archive(_item(), Urls(media, "a"), http, root, chunk_size=4096)
    assert [h.status for h in media.hits] == [200, 206]
    assert 0 < _range_start(media.hits[1].range) <= 123_457
    assert result.bytes == len(data)
    assert _stored(*root, result.key) == data


async def test_a_server_ignoring_range_restarts_from_zero(media, http, root) -> None:
    data = _payload(500_000)
    media.files["a"] = data
    media.faults["t0"] = "drop:200000"
    media.ignore_range = True
    result = await _archive(_item(), Urls(media, "a"), http, root, chunk_size=4096)
    assert [h.status for h in media.hits] == [200, 200]
    assert 0 < _range_start(media.hits[1].range) <= 200_000
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert _stored(*root, result.key) == data


async def test_a_body_shorter_than_its_content_length_publishes_nothing(media, http, root) -> None:
    media.files["a"] = _payload(300_000)
    for token in ("t0", "t1", "t2", "t3"):
        media.faults[token] = "short"
    item = _item()
    with pytest.raises(ArchiveError, match="Alex Kim") as err:
        await _archive(item, Urls(media, "a"), http, root, chunk_size=4096, max_refreshes=2)
    assert "token" not in str(err.value)
    assert "127.0.0.1" not in str(err.value)
    assert _stored(*root, item.key) is None
    assert _leftovers(*root) == []


async def test_a_gone_file_is_a_permanent_error(media, http, root) -> None:
    with pytest.raises(MediaGoneError, match="404"):
        await _archive(_item(), Urls(media, "missing"), http, root)
    assert len(media.hits) == 1
    assert _leftovers(*root) == []


async def test_server_errors_are_retried_with_backoff(media, http, root) -> None:
    media.files["a"] = _payload(10_000)
    media.faults["t0"] = "fail2"
    with retry.set_testing(True) as testing:
        result = await _archive(_item(), Urls(media, "a"), http, root)
    assert [h.status for h in media.hits] == [503, 503, 200]
    assert len(testing.waits) == 2
    assert result.bytes == 10_000


async def test_a_media_outage_longer_than_the_tolerance_fails_saying_for_how_long(
    media, http, root
) -> None:
    media.files["a"] = _payload(10_000)
    media.faults["t0"] = "fail1000"
    with (
        retry.set_testing(True) as testing,
        pytest.raises(ArchiveError, match=r"kept failing for \d+s \(\d+ tries") as err,
    ):
        await _archive(_item(), Urls(media, "a"), http, root, budget=60)
    assert len(media.hits) > 2
    assert sum(testing.waits) <= 60  # within the budget, never past it
    assert "token" not in str(err.value)
    assert _leftovers(*root) == []


async def test_a_rerun_with_the_object_in_place_does_not_download_it_again(
    media, http, root
) -> None:
    data = _payload(250_000)
    media.files["a"] = data
    first = await _archive(_item(), Urls(media, "a"), http, root)
    media.hits.clear()
    again = await _archive(_item(), Urls(media, "a"), http, root, expected_sha256=first.sha256)
    assert (again.copied, again.sha256, again.bytes) == (False, first.sha256, len(data))
    assert [(h.range, h.status) for h in media.hits] == [("bytes=0-0", 206)]
    media.hits.clear()
    unknown = await _archive(_item(), Urls(media, "a"), http, root)  # no catalog: re-hash
    assert (unknown.copied, unknown.sha256) == (False, first.sha256)
    media.hits.clear()
    stale = await _archive(_item(), Urls(media, "a"), http, root, expected_sha256="0" * 64)
    assert stale.copied is True
    assert [h.range for h in media.hits] == ["bytes=0-0", None]


async def test_a_changed_remote_file_replaces_the_stored_one(media, http, root) -> None:
    media.files["a"] = _payload(1000)
    await _archive(_item(), Urls(media, "a"), http, root)
    media.files["a"] = _payload(2000)
    result = await _archive(_item(), Urls(media, "a"), http, root)
    assert result.copied
    assert _stored(*root, result.key) == _payload(2000)


async def test_archive_all_finishes_the_others_then_names_the_failures(media, http, root) -> None:
    names = ["Jane", "Alex Kim", "../../etc/passwd", "Bob"]
    for name in names:
        media.files[name.replace("/", "_")] = _payload(50_000 + len(name))
    del media.files["Bob"]
    items = [_item(name) for name in names]

    async def fetch_url_for(item: MediaFile, refresh: bool) -> str:
        return media.url((item.participant_name or "").replace("/", "_"), "t")

    with pytest.raises(ArchiveBatchError) as err:
        await archive_all(items, fetch_url_for=fetch_url_for, http=http, media_root=Root(*root),
                          concurrency=2)  # fmt: skip
    assert [m.participant_name for m in err.value.archived] == names[:3]
    assert [item.participant_name for item, _ in err.value.failures] == ["Bob"]
    assert "'Bob'" in str(err.value)
    assert "http" not in str(err.value)


async def test_a_large_file_is_archived_with_bounded_memory(media, http, tmp_path) -> None:
    size = 50 * 2**20
    data = _payload(size)
    media.files["big"] = data
    digest = hashlib.sha256(data).hexdigest()
    tracemalloc.start()
    try:
        result = await archive_file(_item(), fetch_url=Urls(media, "big"), http=http,
                                    media_root=Root(str(tmp_path / "m")))  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.sha256 == digest
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB for a 50 MiB file"
