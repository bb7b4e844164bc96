"""Retention: delete a bot's data at MeetStream once our copy of it is proven complete.

With `MEETSTREAM_DELETE_AFTER_ARCHIVE` on, a captured bot's recordings are deleted at
MeetStream (`DELETE /bots/{id}/delete`) and the deletion is recorded in its `bots` row
(`deleted_at`, `deleted_objects`). Plain Python: `tasks.media.delete_at_source` wraps it.

The trap guarded against is an irreversible delete of data we do not hold. So the decision
reads only what is committed, never what a step believes it did:
- the bot's committed `bots` row must say `captured` (never `partial`, `failed`, `error`,
  ...) and its `media_files` must equal its committed `media` rows;
- every file the manifests list (`meetstream_catalog.archive.plan.plan_media`: per-participant
  segments, mixed audio, composite video) must have a committed `media` row;
- every such row's object is re-read from storage: its size and sha256 must equal the row's.
Anything else (a missing file, a mismatch, an unreadable object, a row stored under another
root) keeps the data at MeetStream, with the reason, and makes no API call at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow.dataset as ds

from meetstream_catalog import catalog
from meetstream_catalog.archive import plan
from meetstream_catalog.archive.storage import StorageRoot, open_root
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.meetstream.models import (
    AudioManifest,
    CompositeVideo,
    MixedAudio,
    VideoManifest,
)
from meetstream_catalog.roots import Root

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """Whether the bot's archive is complete and verified; `reason` says why not."""

    safe: bool
    reason: str
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Deletion:
    """What retention did for one bot: deleted (and recorded), or kept with the reason."""

    deleted: bool
    reason: str = ""
    deleted_objects: int | None = None
    deleted_at: dt.datetime | None = None
    recorded: bool = False


def planned_keys(
    bot_id: str,
    audio: AudioManifest | None,
    video: VideoManifest | None,
    mixed: MixedAudio | None = None,
    composite: CompositeVideo | None = None,
) -> list[str]:
    """Storage keys of every file the manifests list (URLs not needed)."""
    return [m.key for m in plan.plan_media(bot_id, audio, video, mixed, composite)]


def committed_bot(root: Root, bot_id: str) -> BotRecord | None:
    """The bot's committed `bots` row as a BotRecord (None if it has none). Blocking."""
    rows = catalog.dataset("bots", root).to_table(filter=ds.field("bot_id") == bot_id).to_pylist()
    if len(rows) != 1:
        return None
    row = rows[0]
    row["custom_attributes"] = json.loads(row.get("custom_attributes") or "{}")
    return BotRecord.model_validate(row)


def _check_object(store: StorageRoot, row: Mapping[str, Any]) -> str | None:
    """None if the stored object has the row's size and sha256, else what is wrong."""
    key = row["key"]
    if row.get("bytes") is None or not row.get("sha256"):
        return f"{key}: the catalog holds no size or checksum"
    if row.get("storage_uri") != store.uri(key):
        return f"{key}: catalogued under another storage root than the media root"
    try:
        size = store.size_of(key)
        if size is None:
            return f"{key}: not in storage"
        if size != row["bytes"]:
            return f"{key}: {size} bytes in storage, {row['bytes']} in the catalog"
        digest, read = store.sha256_of(key)
    except OSError as exc:
        return f"{key}: could not be read back ({type(exc).__name__})"
    if read != row["bytes"] or digest != row["sha256"]:
        return f"{key}: sha256 in storage differs from the catalog"
    return None


def verify_archive(
    bot_id: str,
    expected_keys: Collection[str],
    *,
    catalog_root: Root,
    media_root: Root,
    concurrency: int = 4,
) -> Verdict:
    """Whether every one of the bot's files is archived, committed and verified. Blocking.

    `expected_keys` are the keys the manifests list (`planned_keys`). Reads the committed
    `bots` and `media` rows, then re-reads each object (size, then a streamed sha256).
    """
    bot = committed_bot(catalog_root, bot_id)
    if bot is None:
        return Verdict(False, "the bot has no committed row in the catalog")
    if bot.outcome != Outcome.CAPTURED.value:
        return Verdict(False, f"its outcome is {bot.outcome or 'unknown'}, not captured")
    if bot.deleted_at is not None:
        return Verdict(False, "its data was already deleted at MeetStream")
    rows = (
        catalog.dataset("media", catalog_root)
        .to_table(
            filter=ds.field("bot_id") == bot_id,
            columns=["key", "storage_uri", "bytes", "sha256"],
        )
        .to_pylist()
    )
    if not rows or not expected_keys:
        return Verdict(False, "no archived file to verify")
    if bot.media_files != len(rows):
        return Verdict(False, f"bots row counts {bot.media_files} files, media has {len(rows)}")
    missing = sorted(set(expected_keys) - {r["key"] for r in rows})
    if missing:
        return Verdict(False, f"{len(missing)} listed file(s) not catalogued, e.g. {missing[0]}")
    store = open_root(media_root)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        problems = [p for p in pool.map(lambda r: _check_object(store, r), rows) if p]
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return Verdict(False, f"verification failed: {problems[0]}{more}")
    return Verdict(True, "", files=len(rows), bytes=sum(int(r["bytes"]) for r in rows))


def record_deletion(
    catalog_root: Root,
    bot_id: str,
    deleted_at: dt.datetime,
    deleted_objects: int | None,
) -> None:
    """Set `deleted_at` / `deleted_objects` on the bot's committed `bots` row. Blocking."""
    bot = committed_bot(catalog_root, bot_id)
    if bot is None:
        raise LookupError(f"bot {bot_id} has no committed row to record its deletion in")
    updated = bot.model_copy(update={"deleted_at": deleted_at, "deleted_objects": deleted_objects})
    catalog.write_bot_row(catalog_root, updated)


async def delete_if_archived(
    client: MeetStreamClient,
    bot_id: str,
    expected_keys: Collection[str],
    *,
    catalog_root: Root,
    media_root: Root,
    concurrency: int = 4,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Deletion:
    """Verify the bot's archive and, only if it is complete, delete its data at MeetStream
    and record that in its `bots` row.

    Returns the Deletion (kept, with the reason, when not verified: no API call then).
    Raises the client's MeetStreamError if the delete call fails. A failure to record a
    successful delete is returned as `recorded=False` with the reason, not raised: the
    data is gone either way, and the caller must say so.
    """
    verdict = await asyncio.to_thread(
        verify_archive,
        bot_id,
        expected_keys,
        catalog_root=catalog_root,
        media_root=media_root,
        concurrency=concurrency,
    )
    if not verdict.safe:
        return Deletion(deleted=False, reason=verdict.reason)
    count = await client.delete_bot_data(bot_id)
    when = now()
    try:
        await asyncio.to_thread(record_deletion, catalog_root, bot_id, when, count)
    except Exception as exc:  # noqa: BLE001 - the delete happened: report, do not hide it
        reason = f"deleted, but not recorded in the catalog: {type(exc).__name__}: {exc}"
        return Deletion(True, reason, deleted_objects=count, deleted_at=when)
    return Deletion(True, deleted_objects=count, deleted_at=when, recorded=True)
