"""Erasure reaching the history: the old data files that still hold a subject's rows, their
purge, and what time travel then answers for the versions that named them.

Responsibility: `files_holding` (the data files of a table that are no longer in its current
snapshot and hold a row of the subject), `purge_files`, and `check_readable` (raises
`ErasedVersionError`, one clear line, for a version that lists a purged file). Plain Python,
blocking.

Traps guarded against:
- an erased person readable by `--as-of`: a Delta DELETE only writes new files; every file
  it removed, and every older copy of the rows (a re-capture's replaced file, a compaction's
  inputs), stays on storage for older versions until vacuum. So after the DELETE commits,
  every data file of the table that the current snapshot does not list is read (only the
  columns of the subject's predicate, with row-group statistics skipping the rest), and the
  ones with a row of the subject are deleted. Nothing else is touched: the rest of the history
  stays readable for the retention window (no vacuum to zero);
- an in-flight write of another process: a file it has not committed yet is not in the
  snapshot either, but holds only its own meeting's rows, so it never matches the subject;
  a file that cannot be read (still being written, or gone) is skipped;
- a cryptic "file not found" from time travel: a version that lists a purged file is refused
  before any read, naming the erasure that purged it and when (`check_readable`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from fsspec.core import url_to_fs

from meetstream_catalog.catalog.audit import erasure_events
from meetstream_catalog.catalog.schema import AUDIT_TABLES
from meetstream_catalog.roots import Root

__all__ = ["ErasedVersionError", "check_readable", "files_holding", "purge_files"]


class ErasedVersionError(LookupError):
    """A table version that listed data files purged by an erasure: it cannot be read.

    Read a version after the erasure (or the current one) instead.
    """


def _live(table: DeltaTable) -> set[str]:
    paths = pa.table(table.get_add_actions(flatten=True)).column("path").to_pylist()
    return {unquote(str(p)) for p in paths}


Matches = Callable[[pa.Table], bool]


def _holds(
    fs: object, path: str, columns: Sequence[str], where: ds.Expression, matches: Matches | None
) -> bool:
    try:
        names = pq.read_schema(path, filesystem=fs).names
        if any(c not in names for c in columns):
            return False  # written before the column existed: cannot name the subject
        found = pq.read_table(path, filesystem=fs, columns=list(columns), filters=where)
    except (FileNotFoundError, pa.ArrowInvalid):
        return False  # gone already, or not written completely yet (not ours to judge)
    return found.num_rows > 0 and (matches is None or matches(found))


def files_holding(
    root: Root,
    name: str,
    columns: Sequence[str],
    where: ds.Expression,
    matches: Matches | None = None,
) -> list[str]:
    """Paths (relative to the table) of the data files of table `name` outside its current
    snapshot that hold a row matching `where` (and, when given, whose matching rows
    `matches` accepts), reading only `columns`."""
    try:
        table = DeltaTable(root.join(name), storage_options=root.delta_options())
    except TableNotFoundError:
        return []
    fs, base = url_to_fs(root.join(name), **dict(root.options))
    base = str(base).rstrip("/")
    stored = [
        p
        for p in fs.find(base)
        if p.endswith(".parquet") and "/_" not in p[len(base) :]  # not _delta_log
    ]
    live = _live(table)
    relative = (p[len(base) + 1 :] for p in stored)
    return sorted(
        r for r in relative if r not in live and _holds(fs, f"{base}/{r}", columns, where, matches)
    )


def purge_files(root: Root, name: str, relative: Sequence[str]) -> int:
    """Delete the data files `relative` of table `name`; return how many were there."""
    fs, base = url_to_fs(root.join(name), **dict(root.options))
    gone = 0
    for path in relative:
        try:
            fs.rm(f"{str(base).rstrip('/')}/{path}")
            gone += 1
        except FileNotFoundError:
            pass  # purged by an earlier, interrupted run
    return gone


def check_readable(name: str, table: DeltaTable, root: Root | str) -> None:
    """Raise ErasedVersionError if this snapshot of table `name` lists a purged file."""
    if name in AUDIT_TABLES:
        return
    purged = {
        f: e for e in erasure_events(root) for f in e.purged_files if f.startswith(f"{name}/")
    }
    if not purged:
        return
    for path in _live(table):
        event = purged.get(f"{name}/{path}")
        if event is not None:
            raise ErasedVersionError(
                f"version {table.version()} of table {name!r} is no longer readable: it held "
                f"data erased on {event.at:%Y-%m-%d %H:%M} UTC (erasure id {event.erasure_id})"
            )
