"""Compact closed days of the Parquet catalog: many per-bot files -> one large file per day.

Responsibility: for every table and every `meeting_date` partition older than the cutoff,
merge the per-bot files (`bot-*.parquet`) into one `part-compacted-<digest>.parquet` with
large row groups, then remove the per-bot files; and tell readers which per-bot files a
compacted file supersedes, so no crash can show a row twice. Plain Python: no Prefect.

Traps guarded against:
- a crash between publishing the compacted file and deleting its sources. Readers list
  files, and no sequence of single-file operations (on S3 or a local disk) swaps N files
  for one atomically. So each compacted file records, in its Parquet key-value metadata,
  every source it absorbed: file name, sha256 of the bytes, bot id and row count. A source
  still present with the *same bytes*, whose bot still has rows in the compacted file, is
  superseded: `live_files` hides it from readers, and the next run deletes it (idempotent
  recovery). A re-captured bot writes a new per-bot file (new bytes), and `write_bot`
  removes its rows from the compacted file, so the new file is never hidden;
- rows lost or doubled by the merge itself: per-bot row counts are checked in memory and
  again on the published object, read back from storage, before any source is deleted;
- a per-bot file replaced by a concurrent re-capture while compaction runs: each source is
  re-hashed just before deletion and kept if it changed. The real exclusion is the writer
  lock: `compaction_lock` (a local flock) here, and the Prefect global concurrency limit
  `CATALOG_WRITER_LIMIT` around both this and the capture flow's catalog write (the only
  lock that works on `s3://`);
- merging into an existing compacted file would make one compacted file the source of
  another, which the hash rule cannot protect through a later `write_bot` rewrite; late
  per-bot files of a compacted day therefore go into an additional compacted file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs

from tasks import catalog
from tasks.catalog import BOT_PREFIX, COMPACTED_PREFIX, compaction_lock
from tasks.catalog_schema import PARTITION, TABLE_SCHEMAS, TABLES
from tasks.settings import resolve_root

CATALOG_WRITER_LIMIT = "catalog-writer"
"""Name of the Prefect global concurrency limit (limit 1) held by every catalog writer."""

SOURCES_KEY = b"meetstream_catalog.compacted_from"
DEFAULT_MIN_ROWS_PER_GROUP = 128 * 1024

_DAY = re.compile(rf"{PARTITION}=(\d{{4}}-\d{{2}}-\d{{2}})$")

Action = Literal["compacted", "cleaned", "unchanged"]


class CompactionError(RuntimeError):
    """A compacted file did not hold exactly its sources' rows; nothing was deleted."""


@dataclass(frozen=True)
class PartitionReport:
    """What compaction did to one table's day."""

    table: str
    meeting_date: str
    action: Action
    sources: int = 0
    rows: int = 0
    removed: int = 0
    compacted_file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Source:
    path: str
    sha256: str
    table: pa.Table

    def entry(self) -> dict[str, Any]:
        ids = pc.unique(self.table["bot_id"]).to_pylist()
        return {
            "file": self.path.rsplit("/", 1)[-1],
            "sha256": self.sha256,
            "bot_id": ids[0] if len(ids) == 1 else None,
            "rows": self.table.num_rows,
        }


def _fs(root: str, storage_options: dict[str, Any] | None) -> tuple[AbstractFileSystem, str]:
    fs, base = url_to_fs(resolve_root(root), **(storage_options or {}))
    return fs, str(base).rstrip("/")


def _glob(fs: AbstractFileSystem, pattern: str) -> list[str]:
    fs.invalidate_cache()  # s3fs caches listings; other writers change them
    return sorted(str(p) for p in fs.glob(pattern))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def closed_days(
    root: str,
    *,
    older_than_days: int = 1,
    today: dt.date | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[tuple[str, dt.date]]:
    """`(table, day)` for every partition with `day < today - older_than_days` (UTC)."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be >= 0")
    cutoff = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=older_than_days)
    fs, base = _fs(root, storage_options)
    found = []
    for table in TABLES:
        for path in _glob(fs, f"{base}/{table}/{PARTITION}=*"):
            match = _DAY.search(path)
            if match and fs.isdir(path):
                day = dt.date.fromisoformat(match.group(1))
                if day < cutoff:
                    found.append((table, day))
    return found


def compacted_sources(fs: AbstractFileSystem, path: str) -> list[dict[str, Any]]:
    """The source entries recorded in a compacted file (empty for any other file)."""
    with fs.open(path, "rb") as f:
        metadata = pq.ParquetFile(f).schema_arrow.metadata or {}
    raw = metadata.get(SOURCES_KEY)
    return list(json.loads(raw)) if raw else []


def _bot_rows(fs: AbstractFileSystem, path: str, bot_id: str) -> int:
    one = ds.dataset(path, filesystem=fs, format="parquet")
    return int(one.count_rows(filter=ds.field("bot_id") == bot_id))


def superseded(fs: AbstractFileSystem, directory: str) -> set[str]:
    """Per-bot files in partition `directory` whose rows a compacted file there already holds.

    Only left over after a crash between publish and delete; readers must skip them.
    """
    compacted = _glob(fs, f"{directory}/{COMPACTED_PREFIX}*.parquet")
    present = set(_glob(fs, f"{directory}/{BOT_PREFIX}*.parquet"))
    hidden: set[str] = set()
    for path in compacted:
        for entry in compacted_sources(fs, path):
            source = f"{directory}/{entry['file']}"
            if source not in present or source in hidden:
                continue
            if _sha256(fs.cat_file(source)) != entry["sha256"]:
                continue  # replaced by a re-capture: its rows are new
            bot_id = entry.get("bot_id")
            # write_bot removes a re-captured bot's rows from the compacted file; if the new
            # per-bot file happens to be byte-identical, it must become visible again.
            if bot_id is None or _bot_rows(fs, path, bot_id) > 0:
                hidden.add(source)
    return hidden


def live_files(
    root: str, table: str, *, storage_options: dict[str, Any] | None = None
) -> list[str]:
    """Every Parquet file of `table` a reader should read (superseded leftovers excluded)."""
    fs, base = _fs(root, storage_options)
    files: list[str] = []
    for directory in _glob(fs, f"{base}/{table}/{PARTITION}=*"):
        hidden = superseded(fs, directory)
        names = _glob(fs, f"{directory}/*.parquet")
        files += [p for p in names if p not in hidden and p.rsplit("/", 1)[-1][0] not in "._"]
    return files


def _read_source(fs: AbstractFileSystem, path: str, table: str) -> _Source:
    data = fs.cat_file(path)
    read = pq.read_table(io.BytesIO(data))
    return _Source(path=path, sha256=_sha256(data), table=_conform(read, table))


def _conform(read: pa.Table, table: str) -> pa.Table:
    """Cast a file of any older schema version to the current one (new columns null)."""
    schema = TABLE_SCHEMAS[table]
    columns = [
        read[f.name].cast(f.type) if f.name in read.column_names else pa.nulls(len(read), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _per_bot(table: pa.Table) -> Counter[str]:
    return Counter(table["bot_id"].to_pylist())


def _compacted_name(sources: Sequence[_Source]) -> str:
    basis = "\n".join(f"{s.path.rsplit('/', 1)[-1]} {s.sha256}" for s in sources)
    return f"{COMPACTED_PREFIX}{_sha256(basis.encode())[:16]}.parquet"


def _encode(merged: pa.Table, sources: Sequence[_Source], min_rows_per_group: int) -> bytes:
    metadata = dict(merged.schema.metadata or {})
    metadata[SOURCES_KEY] = json.dumps([s.entry() for s in sources]).encode()
    sink = pa.BufferOutputStream()
    # Sorted by bot_id, so row-group statistics let write_bot find one bot's rows cheaply.
    pq.write_table(
        merged.sort_by("bot_id").replace_schema_metadata(metadata),
        sink,
        compression="zstd",
        row_group_size=min_rows_per_group,
    )
    return bytes(sink.getvalue().to_pybytes())


def _delete_unchanged(fs: AbstractFileSystem, path: str, sha256: str) -> bool:
    """Delete `path` only if it still holds the bytes we compacted."""
    try:
        if _sha256(fs.cat_file(path)) != sha256:
            return False
    except FileNotFoundError:
        return False
    fs.rm(path)
    return True


def compact_day(
    root: str,
    table: str,
    day: dt.date,
    *,
    min_rows_per_group: int = DEFAULT_MIN_ROWS_PER_GROUP,
    storage_options: dict[str, Any] | None = None,
) -> PartitionReport:
    """Compact one table's day; safe to re-run at any point after a crash.

    Raises CompactionError (and deletes nothing) if the published file's rows differ from
    its sources'.
    """
    if min_rows_per_group < 1:
        raise ValueError("min_rows_per_group must be >= 1")
    fs, base = _fs(root, storage_options)
    directory = f"{base}/{table}/{PARTITION}={day.isoformat()}"
    with compaction_lock(root, storage_options):
        leftovers = sorted(superseded(fs, directory))
        for leftover in leftovers:  # a crash left them after their compacted file was published
            fs.rm(leftover)
        removed = len(leftovers)
        paths = _glob(fs, f"{directory}/{BOT_PREFIX}*.parquet")
        report = PartitionReport(
            table, day.isoformat(), "cleaned" if removed else "unchanged", removed=removed
        )
        if not paths:
            return report
        sources = [_read_source(fs, p, table) for p in paths]
        merged = pa.concat_tables([s.table for s in sources])
        expected = _per_bot(merged)
        if merged.num_rows == 0:  # schema-only files record "no rows": nothing to keep
            gone = sum(_delete_unchanged(fs, s.path, s.sha256) for s in sources)
            action: Action = "cleaned" if gone or removed else "unchanged"
            return replace(report, action=action, sources=len(sources))
        target = f"{directory}/{_compacted_name(sources)}"
        catalog.publish(fs, target, _encode(merged, sources, min_rows_per_group))
        _verify(fs, target, expected)
        for source in sources:
            _delete_unchanged(fs, source.path, source.sha256)
        return replace(
            report,
            action="compacted",
            sources=len(sources),
            rows=merged.num_rows,
            compacted_file=fs.unstrip_protocol(target),
        )


def _verify(fs: AbstractFileSystem, target: str, expected: Counter[str]) -> None:
    fs.invalidate_cache()
    with fs.open(target, "rb") as f:
        stored = pq.read_table(f, columns=["bot_id"])
    if _per_bot(stored) != expected:
        fs.rm(target)  # ours, and never a source: the per-bot files stay untouched
        raise CompactionError(
            f"compacted file {target} holds {stored.num_rows} rows, its sources "
            f"{sum(expected.values())}; it was removed and no source was deleted"
        )


def compact(
    root: str,
    *,
    older_than_days: int = 1,
    min_rows_per_group: int = DEFAULT_MIN_ROWS_PER_GROUP,
    today: dt.date | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[PartitionReport]:
    """Compact every closed day of every table under `root`; returns one report per day."""
    days = closed_days(
        root, older_than_days=older_than_days, today=today, storage_options=storage_options
    )
    return [
        compact_day(
            root, table, day, min_rows_per_group=min_rows_per_group, storage_options=storage_options
        )
        for table, day in days
    ]


def summarize(reports: Iterable[PartitionReport]) -> Counter[str]:
    """How many days each action applied to."""
    return Counter(r.action for r in reports)
