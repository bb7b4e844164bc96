"""The media archive: stream each planned file into storage, verified and published atomically.

`archive_file` copies one file from its presigned URL; `archive_all` copies many with bounded
concurrency. Which files and keys (`plan_media`, `segment_url`, `storage_key`) and the
`ArchiveError` family are `meetstream_catalog.archive.plan`; roots and atomic writers are
`meetstream_catalog.archive.storage`.

Traps guarded against:
- presigned URLs live 10 minutes and are bearer credentials: a 403 re-fetches the URL
  through `fetch_url(True)` and resumes with `Range`; no URL ever reaches a log line or
  an exception message (transport errors are re-raised `from None`);
- a half-copied file must never appear at its final key (see `meetstream_catalog.archive.storage`), and a
  body shorter than announced is an error, not a smaller file;
- memory stays bounded by `chunk_size` (plus one S3 part) whatever the file size.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from meetstream_catalog.archive.plan import (
    ArchiveBatchError,
    ArchiveError,
    MediaGoneError,
    describe,
)
from meetstream_catalog.archive.storage import AtomicWriter, StorageRoot, open_root, open_writer
from meetstream_catalog.meetstream.errors import parse_retry_after
from meetstream_catalog.meetstream.models import ArchivedMedia, MediaFile
from meetstream_catalog.meetstream.transport import RetryPolicy
from meetstream_catalog.redaction import guard_http_logs

# Media downloads go through httpx, which logs each URL (signature included) at INFO.
guard_http_logs()

__all__ = ["archive_all", "archive_file"]

logger = logging.getLogger(__name__)

MEDIA_RETRY = RetryPolicy()  # the API's policy: one rule for every transient failure


# --- transfer -------------------------------------------------------------------------


class _Expired(Exception):  # 403: the presigned URL expired, fetch a fresh one
    pass


class _Dropped(Exception):  # connection lost mid-body, or a restart is needed: try again
    pass


class _Transient(Exception):  # 5xx, 408, 429, timeout: back off, then try again
    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


@dataclass
class _Transfer:
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


async def _accept(t: _Transfer, resp: httpx.Response) -> None:
    """Check the status; set up `t` for this body or raise what to do next."""
    status = resp.status_code
    if status == 403:
        raise _Expired
    if status in (404, 410):
        raise MediaGoneError(f"{describe(t.item)}: the media URL answers {status}; it is gone.")
    if status in (408, 429) or status >= 500:
        raise _Transient(f"HTTP {status}", parse_retry_after(resp.headers.get("retry-after")))
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
    raise ArchiveError(f"{describe(t.item)}: unexpected HTTP {status} from the media URL.")


async def _attempt(t: _Transfer, http: httpx.AsyncClient, url: str, chunk_size: int) -> None:
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
        raise _Transient(type(exc).__name__) from None
    if t.total is not None and t.written != t.total:
        raise ArchiveError(
            f"{describe(t.item)}: received {t.written} bytes but the server announced "
            f"{t.total}; nothing was published. Re-run the flow."
        )


async def _download(
    t: _Transfer,
    fetch_url: Callable[[bool], Awaitable[str]],
    http: httpx.AsyncClient,
    url: str,
    chunk_size: int,
    max_refreshes: int,
    policy: RetryPolicy,
) -> None:
    refresh, recoveries, transient = False, 0, 0
    started, rng = time.monotonic(), random.Random()
    while True:
        if refresh:
            url, refresh = await fetch_url(True), False
        try:
            await _attempt(t, http, url, chunk_size)
            return
        except _Expired:
            recoveries, refresh, why = recoveries + 1, True, "its URL kept expiring (403)"
        except _Dropped:
            # The URL may still be valid: resume with it; if it expired, the next try 403s.
            recoveries, why = recoveries + 1, "the connection kept dropping"
        except _Transient as exc:
            transient += 1
            elapsed = time.monotonic() - started
            delay = policy.delay(transient, elapsed, exc.retry_after, rng)
            if delay is None:
                raise ArchiveError(
                    f"{describe(t.item)}: the media server kept failing for {elapsed:.0f}s "
                    f"({transient} tries, last {exc}); nothing was published."
                ) from None
            logger.warning(
                "%s: media server %s; trying again in %.1fs", describe(t.item), exc, delay
            )
            await asyncio.sleep(delay)
            continue
        if recoveries > max_refreshes:
            raise ArchiveError(
                f"{describe(t.item)}: gave up after {max_refreshes} retries because {why} "
                f"({t.written} bytes copied, nothing published). Re-run the flow."
            )
        logger.warning("%s: resuming at byte %d (%s)", describe(t.item), t.written, why)


async def _reuse(
    item: MediaFile,
    root: StorageRoot,
    url: str,
    http: httpx.AsyncClient,
    expected_sha256: str | None,
    chunk_size: int,
) -> ArchivedMedia | None:
    """The stored object when it is already the remote file, else None.

    Cheapest correct order: a metadata lookup, then a one-byte ranged GET for the remote
    size (presigned URLs are signed for GET only, so no HEAD), then one read of the stored
    object for its sha256. The remote body is never downloaded."""
    stored = await asyncio.to_thread(root.size_of, item.key)
    if stored is None:
        return None
    remote: int | None = None
    headers = {"Range": "bytes=0-0", "Accept-Encoding": "identity"}
    try:
        async with http.stream("GET", url, headers=headers) as resp:
            if resp.status_code == 206:
                remote = (_content_range(resp.headers.get("content-range")) or (0, None))[1]
            elif resp.status_code == 200:
                remote = _content_length(resp)  # closing unread drops the connection
    except httpx.TransportError:
        return None
    if remote != stored:
        return None
    sha, size = await asyncio.to_thread(root.sha256_of, item.key, chunk_size)
    if size != stored or (expected_sha256 and sha != expected_sha256.lower()):
        return None
    return ArchivedMedia(
        **item.model_dump(), storage_uri=root.uri(item.key), bytes=size, sha256=sha, copied=False
    )


async def archive_file(
    item: MediaFile,
    *,
    fetch_url: Callable[[bool], Awaitable[str]],
    http: httpx.AsyncClient,
    media_root: str,
    storage_options: Mapping[str, object] | None = None,
    expected_sha256: str | None = None,
    chunk_size: int = 1 << 20,
    max_refreshes: int = 3,
    policy: RetryPolicy | None = None,
) -> ArchivedMedia:
    """Copy one file into `media_root` at `item.key`; return its durable URI, size, sha256.

    `http` must carry no credentials (presigned URLs authenticate themselves).
    Raises ArchiveError (MediaGoneError when permanent); nothing is published then.
    """
    root = await asyncio.to_thread(open_root, media_root, storage_options)
    url = await fetch_url(False)
    reused = await _reuse(item, root, url, http, expected_sha256, chunk_size)
    if reused is not None:
        logger.info("%s: already archived, not copied again", describe(item))
        return reused
    writer = await asyncio.to_thread(open_writer, root, item.key)
    t = _Transfer(item, writer)
    try:
        await _download(t, fetch_url, http, url, chunk_size, max_refreshes, policy or MEDIA_RETRY)
        await asyncio.to_thread(writer.commit, t.written)
    except BaseException as exc:
        try:  # shielded: a second cancellation must not leave an upload half-aborted
            await asyncio.shield(asyncio.to_thread(writer.discard))
        except Exception:  # noqa: BLE001 - best effort after the real error
            logger.warning("%s: could not discard the partial copy", describe(item))
        if isinstance(exc, OSError):  # storage failures (permissions, S3 errors, size check)
            raise ArchiveError(f"{describe(item)}: storage write failed: {exc}") from None
        raise
    logger.info("%s: archived %d bytes", describe(item), t.written)
    return ArchivedMedia(
        **item.model_dump(),
        storage_uri=root.uri(item.key),
        bytes=t.written,
        sha256=t.hasher.hexdigest(),
        copied=True,
    )


async def archive_all(
    items: Sequence[MediaFile],
    *,
    fetch_url_for: Callable[[MediaFile, bool], Awaitable[str]],
    http: httpx.AsyncClient,
    media_root: str,
    storage_options: Mapping[str, object] | None = None,
    expected: Mapping[str, str] | None = None,
    concurrency: int = 4,
    on_archived: Callable[[ArchivedMedia], None] | None = None,
    policy: RetryPolicy | None = None,
) -> list[ArchivedMedia]:
    """Archive every item, `concurrency` at a time; results in item order.

    `on_archived` is called as each file is safely stored (for progress reports).

    A failure does not stop the others: once all are done, ArchiveBatchError is raised
    carrying `archived` (to catalogue) and `failures` (item, exception).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    gate = asyncio.Semaphore(concurrency)

    async def one(item: MediaFile) -> ArchivedMedia:
        async with gate:
            done = await archive_file(
                item, fetch_url=functools.partial(fetch_url_for, item), http=http,
                media_root=media_root, storage_options=storage_options,
                expected_sha256=(expected or {}).get(item.key), policy=policy,
            )  # fmt: skip
        if on_archived is not None:
            on_archived(done)
        return done

    outcomes = await asyncio.gather(*(one(i) for i in items), return_exceptions=True)
    archived: list[ArchivedMedia] = []
    failures: list[tuple[MediaFile, Exception]] = []
    for item, outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, ArchivedMedia):
            archived.append(outcome)
        elif isinstance(outcome, Exception):
            failures.append((item, outcome))
        else:
            raise outcome  # cancellation and interrupts are not per-file failures
    if failures:
        raise ArchiveBatchError(archived, failures)
    return archived
