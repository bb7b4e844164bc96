"""The archive's copy: each planned file into storage, verified and published atomically.

`archive_file` copies one file (or finds it already stored); `archive_all` copies many with
bounded concurrency. The HTTP side (resume, refresh, retry) is
`meetstream_catalog.archive.download`; roots and atomic writers are
`meetstream_catalog.archive.storage`; which file goes to which key is
`meetstream_catalog.archive.plan`.

Traps guarded against:
- a half-copied file must never appear at its final key: a failed or cancelled copy is
  discarded (shielded, so a second cancellation cannot leave an upload half-aborted), and
  a stored size that differs from what was written is an error;
- copying a file twice: a stored object whose size matches the remote one and whose
  sha256 matches the catalog's (when known) is reused, without downloading the body;
- one failing file must not stop the others: `archive_all` finishes them all, then raises
  one `ArchiveBatchError` carrying what was archived;
- memory stays bounded by `chunk_size` (plus one S3 part) whatever the file size.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

import httpx

from meetstream_catalog.archive.download import Transfer, download, remote_size
from meetstream_catalog.archive.files import ArchivedMedia, MediaFile
from meetstream_catalog.archive.plan import ArchiveBatchError, ArchiveError, describe
from meetstream_catalog.archive.storage import StorageRoot, open_root, open_writer
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import Settings

logger = logging.getLogger(__name__)

# The settings' own default, for callers that pass no budget.
DEFAULT_BUDGET: float = Settings.model_fields["outage_tolerance_seconds"].default


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
    size, then one read of the stored object for its sha256. The remote body is never
    downloaded."""
    stored = await asyncio.to_thread(root.size_of, item.key)
    if stored is None or await remote_size(http, url) != stored:
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
    media_root: Root,
    expected_sha256: str | None = None,
    chunk_size: int = 1 << 20,
    max_refreshes: int = 3,
    budget: float = DEFAULT_BUDGET,
) -> ArchivedMedia:
    """Copy one file into `media_root` at `item.key`; return its durable URI, size, sha256.

    `http` must carry no credentials (presigned URLs authenticate themselves). `budget`:
    seconds a failing media server is retried (the settings' `outage_tolerance_seconds`).
    Raises ArchiveError (MediaGoneError when permanent); nothing is published then.
    """
    root = await asyncio.to_thread(open_root, media_root)
    url = await fetch_url(False)
    reused = await _reuse(item, root, url, http, expected_sha256, chunk_size)
    if reused is not None:
        logger.info("%s: already archived, not copied again", describe(item))
        return reused
    writer = await asyncio.to_thread(open_writer, root, item.key)
    t = Transfer(item, writer)
    try:
        await download(
            t, url, fetch_url=fetch_url, http=http, chunk_size=chunk_size,
            max_refreshes=max_refreshes, budget=budget,
        )  # fmt: skip
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
    media_root: Root,
    expected: Mapping[str, str] | None = None,
    concurrency: int = 4,
    on_archived: Callable[[ArchivedMedia], None] | None = None,
    budget: float = DEFAULT_BUDGET,
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
                media_root=media_root,
                expected_sha256=(expected or {}).get(item.key), budget=budget,
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
