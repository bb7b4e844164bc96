"""archive_file against an in-process MockTransport: checks no socket server can provoke."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from meetstream_catalog.archive import archive_file
from meetstream_catalog.archive.files import MediaFile
from meetstream_catalog.archive.plan import ArchiveError, storage_key
from meetstream_catalog.roots import Root

ITEM = MediaFile(bot_id="b1", kind="audio", participant_name="Jane", stream_id="j1",
                 key=storage_key("b1", "audio", "Jane", "j1", 0, "j.webm"))  # fmt: skip
URL = "https://bucket.s3.example/j.webm?X-Amz-Signature=secret"


async def _fetch(refresh: bool) -> str:
    return URL


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _client(handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=handler)


async def test_a_body_that_disagrees_with_content_range_is_refused(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        return httpx.Response(206, content=b"x" * 10,
                              headers={"Content-Range": "bytes 0-19/20"})  # fmt: skip

    # A 206 answers a request without Range here: treated as "not what we asked for" unless
    # it starts at our offset (0), so the announced total (20) is checked against 10 bytes.
    async with _client(httpx.MockTransport(handler)) as http:
        with pytest.raises(ArchiveError, match="announced 20") as err:
            await archive_file(ITEM, fetch_url=_fetch, http=http, media_root=Root(str(tmp_path)))
    assert "secret" not in str(err.value)
    assert _files(tmp_path) == []  # neither the final file nor a temporary one


async def test_an_unexpected_status_is_a_clear_error_without_the_url(tmp_path: Path) -> None:
    async with _client(httpx.MockTransport(lambda r: httpx.Response(400))) as http:
        with pytest.raises(ArchiveError, match="unexpected HTTP 400") as err:
            await archive_file(ITEM, fetch_url=_fetch, http=http, media_root=Root(str(tmp_path)))
    assert "X-Amz" not in str(err.value)
    assert "'Jane'" in str(err.value)


async def test_repeated_expiry_gives_up_after_max_refreshes(tmp_path: Path) -> None:
    calls: list[bool] = []

    async def fetch(refresh: bool) -> str:
        calls.append(refresh)
        return URL

    async with _client(httpx.MockTransport(lambda r: httpx.Response(403))) as http:
        with pytest.raises(ArchiveError, match="expiring") as err:
            await archive_file(ITEM, fetch_url=fetch, http=http, media_root=Root(str(tmp_path)),
                               max_refreshes=2)  # fmt: skip
    assert calls == [False, True, True]
    assert str(err.value).count("'Jane'") == 1  # the file is named once
