"""One-off migration of the previous catalog layout into the Delta tables.

Responsibility: read `<root>/<table>/meeting_date=YYYY-MM-DD/{bot-*,part-compacted-*}.parquet`
(the hand-made layout before Delta), keep exactly the rows its own reader showed, commit
them into the Delta table at `<root>/<table>/` in one commit per table (`media`,
`participants`, then `bots`), then move the old files to `<root>/_previous_layout/`.

Traps guarded against:
- rows counted twice: a compaction that crashed between publishing and deleting left
  per-bot files whose rows a compacted file also holds. The old `live_files` rule is applied
  once, here: a per-bot file is superseded if a compacted file of its day lists it among its
  sources (`meetstream_catalog.compacted_from`) with the same sha256 and still holds rows of
  its bot. After that, each bot's rows come from one file only (a per-bot file beats a
  compacted one; the newest per-bot file wins after a crash in the middle of a date move);
- clobbering newer data: bots already in any Delta table (captured by the new code) keep
  their Delta rows; their old rows are dropped;
- running twice: each commit carries the Delta app transaction `meetstream-migrate`; a
  table that has it is not committed again, and old files are only moved after the commit,
  so a crash anywhere is finished by the next run. Run it before captures restart.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, Transaction, write_deltalake
from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs

from meetstream_catalog.catalog.commit_retry import retry_conflicts
from meetstream_catalog.catalog.read import open_table
from meetstream_catalog.catalog.schema import PARTITION, TABLE_SCHEMAS
from meetstream_catalog.roots import Root

__all__ = [
    "MIGRATION_APP_ID",
    "PREVIOUS_LAYOUT_TABLES",
    "TableMigration",
    "format_report",
    "migrate",
]

MIGRATION_APP_ID = "meetstream-migrate"
BACKUP_DIR = "_previous_layout"
SOURCES_KEY = b"meetstream_catalog.compacted_from"
_OLD_FILE = re.compile(r"/meeting_date=(\d{4}-\d{2}-\d{2})/(bot-|part-compacted-)[^/]*\.parquet$")
_WRITE_ORDER = ("media", "participants", "bots")
# The previous layout had no `speech` table; `bot_events` was a Delta table from the start.
PREVIOUS_LAYOUT_TABLES = ("bots", "media", "participants")


@dataclass
class TableMigration:
    """What the migration found and did for one table."""

    table: str
    old_files: int = 0
    superseded_files: int = 0
    rows: int = 0
    bots: int = 0
    bots_kept_from_delta: int = 0
    committed: bool = False
    moved_files: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _OldFile:
    path: str
    day: date
    compacted: bool
    mtime: float
    table: pa.Table


def _old_files(fs: AbstractFileSystem, base: str, table: str) -> list[str]:
    fs.invalidate_cache()
    found = fs.glob(f"{base}/{table}/{PARTITION}=*/*.parquet")
    return sorted(str(p) for p in found if _OLD_FILE.search(str(p)))


def _mtime(fs: AbstractFileSystem, path: str) -> float:
    info = fs.info(path)
    stamp = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return float(stamp.timestamp() if hasattr(stamp, "timestamp") else stamp)


def _conform(read: pa.Table, table: str, day: date) -> pa.Table:
    """Any older file's rows in the current schema (`meeting_date` from the directory)."""
    schema = TABLE_SCHEMAS[table]
    columns = []
    for f in schema:
        if f.name == PARTITION:
            columns.append(pa.array([day] * len(read), pa.date32()))
        elif f.name in read.column_names:
            columns.append(read[f.name].cast(f.type))
        else:
            columns.append(pa.nulls(len(read), f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _superseded(files: list[str], raw: Mapping[str, bytes]) -> set[str]:
    """The old `live_files` rule: per-bot files a compacted file of their day absorbed."""
    hidden: set[str] = set()
    for path in (p for p in files if "/part-compacted-" in p):
        directory = path.rsplit("/", 1)[0]
        meta = pq.read_schema(pa.BufferReader(raw[path])).metadata or {}
        bots = set(
            pq.read_table(pa.BufferReader(raw[path]), columns=["bot_id"])["bot_id"].to_pylist()
        )
        for entry in json.loads(meta.get(SOURCES_KEY, b"[]")):
            source = f"{directory}/{entry['file']}"
            if source not in raw or hashlib.sha256(raw[source]).hexdigest() != entry["sha256"]:
                continue  # gone, or replaced by a re-capture: its rows are newer
            if entry.get("bot_id") is None or entry["bot_id"] in bots:
                hidden.add(source)
    return hidden


def _live(fs: AbstractFileSystem, base: str, table: str, report: TableMigration) -> list[_OldFile]:
    files = _old_files(fs, base, table)
    raw = {p: bytes(fs.cat_file(p)) for p in files}
    hidden = _superseded(files, raw)
    report.old_files, report.superseded_files = len(files), len(hidden)
    live = []
    for path in files:
        if path in hidden:
            continue
        match = _OLD_FILE.search(path)
        assert match is not None  # _old_files only lists matching paths
        day = date.fromisoformat(match.group(1))
        rows = _conform(pq.read_table(pa.BufferReader(raw[path])), table, day)
        live.append(_OldFile(path, day, match.group(2) != "bot-", _mtime(fs, path), rows))
    return live


def _one_source_per_bot(live: list[_OldFile]) -> pa.Table | None:
    """Each bot's rows from one file: per-bot files beat compacted ones, newer beat older."""
    owner: dict[str, _OldFile] = {}
    for old in sorted(live, key=lambda f: (not f.compacted, f.mtime)):
        for bot_id in set(old.table["bot_id"].to_pylist()):
            owner[bot_id] = old  # later in the order wins
    parts = [
        old.table.filter(pc.is_in(old.table["bot_id"], pa.array(sorted(ids), pa.string())))
        for old in live
        if (ids := {b for b, o in owner.items() if o is old})
    ]
    return pa.concat_tables(parts) if parts else None


def _delta_bots(root: Root) -> set[str]:
    present: set[str] = set()
    for name in PREVIOUS_LAYOUT_TABLES:
        table = open_table(name, root)
        if table is not None:
            ids = table.to_pyarrow_dataset().to_table(columns=["bot_id"])["bot_id"]
            present |= set(pc.unique(ids).to_pylist())
    return present


def _already_migrated(name: str, root: Root) -> bool:
    table = open_table(name, root)
    return table is not None and table.transaction_version(MIGRATION_APP_ID) is not None


def _commit(name: str, root: Root, rows: pa.Table) -> None:
    marker = CommitProperties(app_transactions=[Transaction(app_id=MIGRATION_APP_ID, version=1)])

    def append() -> None:
        write_deltalake(
            root.join(name),
            rows,
            mode="append",
            partition_by=[PARTITION],
            schema_mode="merge",
            storage_options=root.delta_options(),
            commit_properties=marker,
        )

    retry_conflicts(append, what=f"migration of catalog table {name!r}")


def _move_old(fs: AbstractFileSystem, base: str, name: str, report: TableMigration) -> None:
    for path in _old_files(fs, base, name):
        target = f"{base}/{BACKUP_DIR}/{path.removeprefix(base + '/')}"
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)  # a no-op on object stores
        fs.mv(path, target)
        report.moved_files += 1


def migrate(root: Root | str) -> list[TableMigration]:
    """Migrate every table under `root`; a second run changes nothing. One report per table."""
    root = Root.at(root)
    fs, base = url_to_fs(root.url, **dict(root.options))
    base = str(base).rstrip("/")
    in_delta = _delta_bots(root)
    reports = {name: TableMigration(name) for name in PREVIOUS_LAYOUT_TABLES}
    for name in _WRITE_ORDER:
        report = reports[name]
        if _already_migrated(name, root):
            report.notes.append("already migrated")
        else:
            rows = _one_source_per_bot(_live(fs, base, name, report))
            if rows is not None:
                kept = pc.is_in(rows["bot_id"], pa.array(sorted(in_delta), pa.string()))
                report.bots_kept_from_delta = len(pc.unique(rows.filter(kept)["bot_id"]))
                rows = rows.filter(pc.invert(kept))
                report.rows, report.bots = rows.num_rows, len(pc.unique(rows["bot_id"]))
                _commit(name, root, rows)
                report.committed = True
        _move_old(fs, base, name, report)
    return [reports[name] for name in PREVIOUS_LAYOUT_TABLES]


def format_report(reports: list[TableMigration]) -> str:
    """One line per table."""
    lines = []
    for r in reports:
        done = "committed" if r.committed else "no commit"
        notes = f" ({'; '.join(r.notes)})" if r.notes else ""
        lines.append(
            f"{r.table}: {r.old_files} old files ({r.superseded_files} superseded), "
            f"{r.rows} rows of {r.bots} bots {done}, {r.bots_kept_from_delta} bots kept "
            f"from Delta, {r.moved_files} files moved to {BACKUP_DIR}/{notes}"
        )
    return "\n".join(lines) + "\n"
