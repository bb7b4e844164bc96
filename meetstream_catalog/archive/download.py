"""Every HTTP request to a media URL: stream one file into a writer, resuming and retrying.

`download` streams a file from its presigned URL into a `Transfer` (the writer plus the
running sha256 and byte count); `remote_size` asks for a file's size with a one-byte GET.
What to do with the bytes (reuse, commit, discard) is `meetstream_catalog.archive.transfer`.

Traps guarded against:
- presigned URLs live 10 minutes and are bearer credentials: a 403 fetches a fresh URL
  through `fetch_url(True)` and resumes with `Range`; no URL ever reaches a log line or an
  exception message (transport errors are re-raised `from None`);
- a body that is not the one asked for (a 206 at another offset or of another object, a
  200 that ignores `Range`) restarts the file from zero, and a body shorter than announced
  is an error, never a smaller file;
- retrying twice: 5xx, 408, 429 and timeouts are retried by `meetstream_catalog.retry`
  within the outage tolerance, honouring `Retry-After`; an expired URL or a dropped
  connection resumes at once, at most `max_refreshes` times, inside the same budget. A
  fresh URL comes from the API client, which retries its own failures, so the hook here
  never retries those.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from meetstream_catalog.archive.files import MediaFile
from meetstream_catalog.archive.plan import ArchiveError, MediaGoneError, describe
from meetstream_catalog.archive.storage import AtomicWriter
from meetstream_catalog.meetstream.errors import parse_retry_after
from meetstream_catalog.redaction import guard_http_logs
from meetstream_catalog.retry import Backoff, Spent, retrying_async

# httpx logs each request's URL (signature included) at INFO.
guard_http_logs()

MEDIA_BACKOFF = Backoff(initial=0.5, cap=60.0, retry_after_cap=300.0)  # as the API's


class _Expired(Exception):  # 403: the presigned URL expired, fetch a fresh one
    pass


class _Dropped(Exception):  # connection lost mid-body, or a restart is needed: try again
    pass


# The two failures the retry primitive sees (their names appear in its log lines).


class MediaServerTrouble(Exception):
    """5xx, 408, 429 or a timeout: back off (or wait `retry_after`), then try again."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


class ResumeNeeded(Exception):
    """An expired URL or a dropped connection: resume at once, from byte `at`."""

    def __init__(self, why: str, at: int) -> None:
        super().__init__(f"{why}; resuming at byte {at}")
        self.why = why


@dataclass
class Transfer:
    """One file on its way: the writer, and the sha256 and byte count of what it holds."""

    item: MediaFile
    writer: AtomicWriter
    hasher: Any = field(default_factory=hashlib.sha256)
    written: int = 0
    total: int | None = None

    def consume(self, chunk: bytes) -> None:  # in a worker thread: hashing is CPU work too
        self.hasher.update(chunk)
        self.writer.write(chunk)
        self.written += len(chunk)

    def restart(self) -> None:
        self.writer.reset()
        self.hasher, self.written, self.total = hashlib.sha256(), 0, None


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """`bytes 100-199/1000` -> (100, 1000); total None for `*`."""
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[6:].partition("/")
    start = span.partition("-")[0]
    if not start.isdigit():
        return None
    return int(start), int(total) if total.isdigit() else None


def _content_length(resp: httpx.Response) -> int | None:
    if resp.headers.get("content-encoding", "identity") != "identity":
        return None  # the length is of the encoded body, not of the file
    value = resp.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def remote_size(http: httpx.AsyncClient, url: str) -> int | None:
    """The size of the file at `url` from a one-byte ranged GET (presigned URLs are signed
    for GET only, so no HEAD); None when the server does not say or cannot be reached."""
    headers = {"Range": "bytes=0-0", "Accept-Encoding": "identity"}
    try:
        async with http.stream("GET", url, headers=headers) as resp:
            if resp.status_code == 206:
                return (_content_range(resp.headers.get("content-range")) or (0, None))[1]
            if resp.status_code == 200:
                return _content_length(resp)  # closing unread drops the connection
    except httpx.TransportError:
        return None
    return None


async def _accept(t: Transfer, resp: httpx.Response) -> None:
    """Check the status; set up `t` for this body or raise what to do next."""
    status = resp.status_code
    if status == 403:
        raise _Expired
    if status in (404, 410):
        raise MediaGoneError(f"{describe(t.item)}: the media URL answers {status}; it is gone")
    if status in (408, 429) or status >= 500:
        raise MediaServerTrouble(
            f"HTTP {status}", parse_retry_after(resp.headers.get("retry-after"))
        )
    if status == 206:
        got = _content_range(resp.headers.get("content-range"))
        same_object = got is not None and (t.total is None or got[1] in (None, t.total))
        if got is None or got[0] != t.written or not same_object:
            await asyncio.to_thread(t.restart)  # not the bytes we asked for: start over
            raise _Dropped
        if got[1] is not None:
            t.total = got[1]
        return
    if status == 200:
        if t.written:  # the server ignored Range and sends everything again
            await asyncio.to_thread(t.restart)
        t.total = _content_length(resp)
        return
    if status == 416 and t.written:
        await asyncio.to_thread(t.restart)
        raise _Dropped
    raise ArchiveError(f"{describe(t.item)}: unexpected HTTP {status} from the media URL")


async def _attempt(t: Transfer, http: httpx.AsyncClient, url: str, chunk_size: int) -> None:
    headers = {"Accept-Encoding": "identity"}  # store the file's bytes, not an encoding
    if t.written:
        headers["Range"] = f"bytes={t.written}-"
    try:
        async with http.stream("GET", url, headers=headers) as resp:
            await _accept(t, resp)
            async for chunk in resp.aiter_bytes(chunk_size):
                await asyncio.to_thread(t.consume, chunk)
    except (httpx.RemoteProtocolError, httpx.ReadError):
        raise _Dropped from None
    except httpx.TransportError as exc:  # timeouts, refused connections
        raise MediaServerTrouble(type(exc).__name__) from None
    if t.total is not None and t.written != t.total:
        raise ArchiveError(
            f"{describe(t.item)}: received {t.written} bytes but the server announced "
            f"{t.total}; nothing was published"
        )


def _retry_on(error: Exception) -> bool | float:
    if isinstance(error, MediaServerTrouble):
        return True if error.retry_after is None else error.retry_after
    return 0.0 if isinstance(error, ResumeNeeded) else False


async def download(
    t: Transfer,
    url: str,
    *,
    fetch_url: Callable[[bool], Awaitable[str]],
    http: httpx.AsyncClient,
    chunk_size: int,
    max_refreshes: int,
    budget: float,
) -> None:
    """Stream the file at `url` into `t`, all of it. Raises ArchiveError (MediaGoneError
    when the file is gone for good); the writer is left for the caller to discard."""
    resumes, refresh = 0, False

    async def once() -> None:
        nonlocal url, resumes, refresh
        if refresh:
            url, refresh = await fetch_url(True), False
        try:
            await _attempt(t, http, url, chunk_size)
            return
        except _Expired:
            why, kept, refresh = "its URL expired (403)", "its URL kept expiring (403)", True
        except _Dropped:  # the URL may still be valid: resume with it (a 403 says if not)
            why, kept = "the connection dropped", "the connection kept dropping"
        resumes += 1
        if resumes > max_refreshes:
            raise ArchiveError(
                f"{describe(t.item)}: gave up after {max_refreshes} retries because {kept} "
                f"({t.written} bytes copied, nothing published)"
            )
        raise ResumeNeeded(why, t.written)

    def gave_up(error: Exception, spent: Spent) -> None:
        last = error.why if isinstance(error, ResumeNeeded) else str(error)
        raise ArchiveError(
            f"{describe(t.item)}: the media server kept failing for {spent.seconds:.0f}s "
            f"({spent.tries} tries, last {last}); nothing was published"
        ) from None

    await retrying_async(
        once,
        on=_retry_on,
        budget=budget,
        what=describe(t.item),
        backoff=MEDIA_BACKOFF,
        gave_up=gave_up,
    )
