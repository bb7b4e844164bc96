"""Write and read the hive-partitioned Parquet catalog (`bots`, `media`, `participants`).

Responsibility: publish one deterministic file per bot per table,
`<root>/<table>/meeting_date=YYYY-MM-DD/bot-<sanitized bot_id>.parquet`, atomically, on a
local path or `s3://` through fsspec; and read tables back with one unified schema.

Traps guarded against:
- duplicated rows on re-runs: a re-run overwrites the bot's file, deletes its files in other
  date partitions (the meeting date may have been derived differently), and rewrites any
  compacted file (`part-compacted-*.parquet`) that still holds the bot's rows;
- half-written files: local writes go to a hidden temp file (readers skip names starting with
  `.`), are fsynced and `os.replace`d; S3 gets the whole file in one PUT, which is atomic;
- writers of different bots never touch each other's files, so they can run concurrently.
  Only the read-modify-write of a compacted file is shared; it is serialized by
  `compaction_lock` (a file lock on local roots; see docs/catalog.md for S3).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from tasks.catalog_schema import (
    PARTITION,
    TABLE_SCHEMAS,
    TABLES,
    BotRecord,
    bot_record,
    bots_table,
    dataset_schema,
    media_table,
    participants_table,
    redact_meeting_link,
)
from tasks.join import ParticipantRow
from tasks.models import ArchivedMedia
from tasks.settings import resolve_root

__all__ = [
    "BOT_PREFIX",
    "COMPACTED_PREFIX",
    "BotRecord",
    "bot_file_name",
    "bot_record",
    "compaction_lock",
    "dataset",
    "existing_media_checksums",
    "read_table",
    "redact_meeting_link",
    "write_bot",
]

BOT_PREFIX = "bot-"
COMPACTED_PREFIX = "part-compacted-"
LOCK_DIR = "_locks"  # at the root, beside the table directories, never inside one

# A pyarrow Expression, or DNF tuples as pyarrow.parquet takes them.
Filters = Any


def bot_file_name(bot_id: str) -> str:
    """`bot-<id>.parquet`, with anything outside [A-Za-z0-9._-] replaced and a hash added
    when the id had to change, so no id escapes its directory or collides with another."""
    if not bot_id:
        raise ValueError("bot_id must not be empty")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", bot_id)[:96]
    if safe != bot_id:
        safe = f"{safe}-{hashlib.sha256(bot_id.encode()).hexdigest()[:12]}"
    return f"{BOT_PREFIX}{safe}.parquet"


def _fs(root: str, storage_options: Mapping[str, Any] | None) -> tuple[AbstractFileSystem, str]:
    fs, base = url_to_fs(resolve_root(root), **(storage_options or {}))
    return fs, str(base).rstrip("/")


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def publish(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Make `path` hold exactly `data`, never a partial file, for any reader."""
    if not isinstance(fs, LocalFileSystem):
        fs.pipe_file(path, data)  # one PUT: S3 shows the old object or the new one
        return
    directory = Path(path).parent
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{Path(path).name}.{uuid.uuid4().hex}.tmp"
    try:
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    # The rename itself must survive a crash too.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _glob(fs: AbstractFileSystem, pattern: str) -> list[str]:
    # s3fs caches listings per instance; another writer may have changed the prefix since.
    fs.invalidate_cache()
    return sorted(str(p) for p in fs.glob(pattern))


def _bot_files(fs: AbstractFileSystem, base: str, table: str, bot_id: str) -> list[str]:
    return _glob(fs, f"{base}/{table}/{PARTITION}=*/{bot_file_name(bot_id)}")


def _compacted_with_bot(fs: AbstractFileSystem, base: str, table: str, bot_id: str) -> list[str]:
    hits = []
    for path in _glob(fs, f"{base}/{table}/{PARTITION}=*/{COMPACTED_PREFIX}*.parquet"):
        # Row-group statistics on bot_id let this skip most of the file's data.
        one = ds.dataset(path, filesystem=fs, format="parquet")
        if one.count_rows(filter=ds.field("bot_id") == bot_id) > 0:
            hits.append(path)
    return hits


def _rewrite_without(fs: AbstractFileSystem, path: str, bot_id: str) -> None:
    with fs.open(path, "rb") as f:
        table = pq.read_table(f)
    keep = table.filter(ds.field("bot_id") != bot_id)
    if keep.num_rows == 0:
        fs.rm(path)
    else:
        # Same name, replaced atomically: other bots' rows are never missing or doubled.
        publish(fs, path, _parquet_bytes(keep))


@contextlib.contextmanager
def compaction_lock(root: str, storage_options: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Serialize read-modify-writes of compacted files under `root`.

    On a local root this is an exclusive `flock` (across threads and processes on one
    host). Object stores offer no lock here: on `s3://` it is a no-op, and deployments
    serialize compaction and re-captures of compacted days with a Prefect concurrency limit.
    """
    fs, base = _fs(root, storage_options)
    if not isinstance(fs, LocalFileSystem):
        yield
        return
    lock_dir = Path(base) / LOCK_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / "compaction.lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_bot(
    root: str,
    *,
    bot: BotRecord,
    media: Sequence[ArchivedMedia],
    participants: Sequence[ParticipantRow],
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Replace every catalog row of `bot.bot_id` with these rows; return table -> file URI.

    A table with no rows still gets a (schema-only) file, so "this bot has no media" is
    recorded and older rows are replaced. Raises ValueError for rows of another bot or a
    value that looks like a presigned URL (nothing is written then).
    """
    stray = sum(m.bot_id != bot.bot_id for m in media)
    stray += sum(p.bot_id != bot.bot_id for p in participants)
    if stray:
        raise ValueError(f"{stray} media/participant rows belong to another bot")
    # Build (and guard) all three tables before touching storage.
    tables = {
        "bots": bots_table(bot),
        "media": media_table(media),
        "participants": participants_table(participants),
    }
    fs, base = _fs(root, storage_options)
    day = f"{PARTITION}={bot.meeting_date.isoformat()}"
    name = bot_file_name(bot.bot_id)
    written: dict[str, str] = {}
    # New rows first, old ones after: a crash in between leaves duplicates that the next
    # run removes, never a bot with no rows at all.
    for table, data in tables.items():
        target = f"{base}/{table}/{day}/{name}"
        publish(fs, target, _parquet_bytes(data))
        written[table] = fs.unstrip_protocol(target)
        for old in _bot_files(fs, base, table, bot.bot_id):
            if old != target:
                fs.rm(old)
    with compaction_lock(root, storage_options):
        for table in TABLES:
            for path in _compacted_with_bot(fs, base, table, bot.bot_id):
                _rewrite_without(fs, path, bot.bot_id)
    return written


def dataset(name: str, root: str, storage_options: Mapping[str, Any] | None = None) -> ds.Dataset:
    """A pyarrow Dataset of table `name` with the latest schema (plus `meeting_date`).

    Files written with an older schema version read with the newer columns null. An absent
    table is an empty dataset.
    """
    schema = dataset_schema(name)
    fs, base = _fs(root, storage_options)
    path = f"{base}/{name}"
    fs.invalidate_cache()
    if not fs.isdir(path):
        return ds.InMemoryDataset(schema.empty_table())
    # Imported here: compaction builds on this module. live_files leaves out in-flight temp
    # files and per-bot files that a compacted file already holds (a compaction that
    # crashed between publishing and deleting must not show those rows twice).
    from tasks.compaction import live_files

    files = live_files(root, name, storage_options=dict(storage_options or {}))
    if not files:
        return ds.InMemoryDataset(schema.empty_table())
    partitioning = ds.partitioning(pa.schema([schema.field(PARTITION)]), flavor="hive")
    return ds.dataset(
        files,
        schema=schema,
        format="parquet",
        filesystem=fs,
        partitioning=partitioning,
        partition_base_dir=path,
    )


def _expression(filters: Filters) -> ds.Expression | None:
    if filters is None or isinstance(filters, ds.Expression):
        return filters
    if not filters:
        return None

    def fix(term: Sequence[Any]) -> tuple[Any, ...]:
        column, op, value = term
        if column == PARTITION and isinstance(value, str):
            value = date.fromisoformat(value)
        elif column == PARTITION and op in ("in", "not in"):
            value = [date.fromisoformat(v) if isinstance(v, str) else v for v in value]
        return (column, op, value)

    if filters and isinstance(filters[0][0], str):
        return pq.filters_to_expression([fix(t) for t in filters])
    return pq.filters_to_expression([[fix(t) for t in conj] for conj in filters])


def read_table(
    name: str,
    root: str,
    *,
    filters: Filters = None,
    columns: Sequence[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Table `name` as a DataFrame with every schema column (empty catalog: zero rows).

    `filters` is a pyarrow Expression or DNF tuples (`[("meeting_date", ">=", "2025-01-01")]`;
    ISO strings are accepted for `meeting_date`); filters on `meeting_date` prune partitions.
    """
    data = dataset(name, root, storage_options)
    cols = list(columns) if columns is not None else None
    frame: pd.DataFrame = data.to_table(columns=cols, filter=_expression(filters)).to_pandas()
    return frame


def existing_media_checksums(
    root: str, bot_id: str, storage_options: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """`{media key: sha256}` of what the catalog already records for `bot_id`.

    Reads only that bot's files and the compacted files that hold its rows.
    """
    fs, base = _fs(root, storage_options)
    files = _bot_files(fs, base, "media", bot_id) + _compacted_with_bot(fs, base, "media", bot_id)
    if not files:
        return {}
    data = ds.dataset(files, schema=TABLE_SCHEMAS["media"], format="parquet", filesystem=fs)
    table = data.to_table(columns=["key", "sha256"], filter=ds.field("bot_id") == bot_id)
    return {
        k: s
        for k, s in zip(table["key"].to_pylist(), table["sha256"].to_pylist(), strict=True)
        if s is not None
    }
