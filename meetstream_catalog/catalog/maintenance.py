"""Maintenance of the catalog's Delta tables: compaction, vacuum, checkpoints, log cleanup.

Responsibility: per table (every table of `TABLES`, `bot_events` included), rewrite each
partition holding more than one file into files of about `target_file_size` sorted by
`bot_id` (today's partition included, which is what keeps commits cheap: a commit's cost
grows with the table's active files and with the files its predicate cannot skip),
`vacuum` the files that left the table more than the retention window ago, write a
checkpoint, and delete expired log entries; then report what was done. Plain Python: the
`maintain-catalog` flow is a thin wrapper.

Traps guarded against:
- maintenance racing captures: compaction is one atomic Delta commit per partition that
  conflicts only with a writer that replaced one of the same files, and is then retried
  from a fresh snapshot (`retry_conflicts`); writers that conflict with it retry likewise. No lock;
- vacuum deleting what a reader or writer still needs: only files removed from the table
  longer ago than the retention window are deleted (`full=False`: files no commit names
  yet, such as a writer's in-flight upload, are never touched). delta-rs refuses a window
  under the table's own (7 days) unless asked: that check is lifted only for shorter ones;
- "last maintenance" drifting from what happened: it is read back from the Delta history.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, WriterProperties

from meetstream_catalog.catalog.commit_retry import retry_conflicts
from meetstream_catalog.catalog.properties import TABLE_PROPERTIES
from meetstream_catalog.catalog.read import open_table
from meetstream_catalog.catalog.schema import PARTITIONS, TABLE_SCHEMAS, TABLES
from meetstream_catalog.roots import Root

__all__ = [
    "DEFAULT_TARGET_FILE_SIZE",
    "DEFAULT_VACUUM_RETENTION_DAYS",
    "TableMaintenance",
    "last_maintenance",
    "maintain",
    "maintain_table",
]

DEFAULT_VACUUM_RETENTION_DAYS = 7
# Replacing one bot rewrites the file that holds it (copy-on-write), so files stay modest.
DEFAULT_TARGET_FILE_SIZE = 32 * 2**20
# Compacted files are what queries read: Snappy decodes faster than the writers' ZSTD (an
# aggregate over 30,000 media rows: 6.2 vs 9.5 ms, best of 60), for ~20% more bytes.
_COMPACTED = WriterProperties(compression="SNAPPY")
_CLUSTER_BY = "bot_id"  # what every commit's predicate and most reads select on
DELTA_DEFAULT_RETENTION_HOURS = 7 * 24  # delta.deletedFileRetentionDuration's default
_COMPACT, _VACUUM = "OPTIMIZE", ("VACUUM END", "VACUUM START")


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table (versions before and after, files, seconds)."""

    table: str
    version_before: int | None
    version_after: int | None
    files_compacted: int = 0
    files_written: int = 0
    files_vacuumed: int = 0
    checkpoint: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fresh(table: DeltaTable) -> DeltaTable:
    table.update_incremental()  # a retry must start from the latest snapshot
    return table


def _set_properties(table: DeltaTable, name: str) -> bool:
    """Give a table created before TABLE_PROPERTIES existed those properties (one commit)."""
    if all(table.metadata().configuration.get(k) == v for k, v in TABLE_PROPERTIES.items()):
        return False
    retry_conflicts(
        lambda: _fresh(table).alter.set_table_properties(dict(TABLE_PROPERTIES)),
        what=f"table properties of catalog table {name!r}",
    )
    return True


def _crowded(table: DeltaTable, partition: str) -> list[str]:
    """The partitions that hold more than one file: new small files to fold in."""
    days = pa.table(table.get_add_actions(flatten=True)).column(f"partition.{partition}")
    found = Counter(str(day) for day in days.to_pylist())
    return sorted(day for day, files in found.items() if files > 1)


def _compact(table: DeltaTable, name: str, target_file_size: int) -> tuple[int, int]:
    """Rewrite each partition with more than one file into files sorted by `bot_id`.

    Clustered (Z-order on one column: a sort), not bin-packed: a compacted file then covers
    a narrow `bot_id` range once a day outgrows one file, so a commit's predicate on a few
    bots, and a read of one bot, skip the others by their statistics.
    """
    partition = PARTITIONS[name]
    clustered = _CLUSTER_BY in TABLE_SCHEMAS[name].names
    removed = added = 0
    for day in _crowded(_fresh(table), partition):
        where = [(partition, "=", day)]

        def rewrite(where: list[tuple[str, str, str]] = where) -> dict[str, Any]:
            optimize = _fresh(table).optimize
            if clustered:
                return optimize.z_order(
                    [_CLUSTER_BY],
                    partition_filters=where,
                    target_size=target_file_size,
                    writer_properties=_COMPACTED,
                )
            return optimize.compact(
                partition_filters=where, target_size=target_file_size, writer_properties=_COMPACTED
            )

        metrics = retry_conflicts(rewrite, what=f"compaction of catalog table {name!r}, {day}")
        removed += int(metrics.get("numFilesRemoved", 0))
        added += int(metrics.get("numFilesAdded", 0))
    return removed, added


def _vacuum(table: DeltaTable, name: str, retention_days: float) -> int:
    hours = round(retention_days * 24)
    deleted = retry_conflicts(
        lambda: _fresh(table).vacuum(
            retention_hours=hours,
            dry_run=False,
            enforce_retention_duration=hours >= DELTA_DEFAULT_RETENTION_HOURS,
        ),
        what=f"vacuum of catalog table {name!r}",
    )
    return len(deleted)


def maintain_table(
    name: str,
    root: Root | str,
    *,
    compact: bool = True,
    vacuum: bool = True,
    retention_days: float = DEFAULT_VACUUM_RETENTION_DAYS,
    target_file_size: int = DEFAULT_TARGET_FILE_SIZE,
) -> TableMaintenance:
    """Compact, vacuum, checkpoint and clean one table; safe while writers commit.

    An absent table is reported with no versions. Raises ValueError for a negative
    retention, CatalogConflictError if a step kept conflicting.
    """
    if retention_days < 0:
        raise ValueError("retention_days must be >= 0")
    started = time.monotonic()
    table = open_table(name, root)
    if table is None:
        return TableMaintenance(name, None, None)
    before = table.version()
    removed = added = vacuumed = 0
    _set_properties(table, name)
    if compact:
        removed, added = _compact(table, name, target_file_size)
    if vacuum:
        vacuumed = _vacuum(table, name, retention_days)
    _fresh(table).create_checkpoint()  # idempotent per version: racing writers are harmless
    table.cleanup_metadata()  # log entries past delta.logRetentionDuration, before a checkpoint
    return TableMaintenance(
        name,
        before,
        table.version(),
        files_compacted=removed,
        files_written=added,
        files_vacuumed=vacuumed,
        checkpoint=True,
        seconds=round(time.monotonic() - started, 3),
    )


def maintain(
    root: Root | str,
    *,
    tables: Sequence[str] = TABLES,
    compact: bool = True,
    vacuum: bool = True,
    retention_days: float = DEFAULT_VACUUM_RETENTION_DAYS,
    target_file_size: int = DEFAULT_TARGET_FILE_SIZE,
) -> list[TableMaintenance]:
    """`maintain_table` for each table, one after the other."""
    root = Root.at(root)
    return [
        maintain_table(
            name,
            root,
            compact=compact,
            vacuum=vacuum,
            retention_days=retention_days,
            target_file_size=target_file_size,
        )
        for name in tables
    ]


def _when(commit: Mapping[str, Any]) -> str:
    return datetime.fromtimestamp(int(commit["timestamp"]) / 1000, UTC).isoformat()


def last_maintenance(table: DeltaTable) -> dict[str, str | None]:
    """`{"optimize": ISO time | None, "vacuum": ISO time | None}` from the table's history."""
    found: dict[str, str | None] = {"optimize": None, "vacuum": None}
    for commit in table.history():  # newest first
        operation = commit.get("operation")
        if operation == _COMPACT and found["optimize"] is None:
            found["optimize"] = _when(commit)
        elif operation in _VACUUM and found["vacuum"] is None:
            found["vacuum"] = _when(commit)
        if all(found.values()):
            break
    return found
