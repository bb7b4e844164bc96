"""Reading a catalog table back: a Delta snapshot as a table handle, an Arrow dataset or a
DataFrame, now or as of an older version or time.

Responsibility: `open_table`, `dataset`, `read_table`, `existing_media_checksums` and the
reader's schema (`reader_schema`). Readers see one consistent snapshot of a table (time
travel: `as_of` a version, or a point in time). Plain Python, blocking.

Traps guarded against:
- counting replaced rows: a table is what its Delta log lists, never the Parquet files of
  its directory (which also hold files replaced or not yet committed);
- columns that come and go: the code's declared columns are always there (null where the
  table lacks them), and columns only a newer writer added follow them, so an older reader
  never loses data;
- an absent table (nothing captured yet, or a wrong root) is an empty table with every
  column, not an error;
- a fresh open of every table for every read: `read_table` reads the current version
  through this thread's kept handle (`handles`), which reads only the commits since its
  last use (a handle that names files since deleted is dropped and the read done again on
  a fresh open). `open_table` and `dataset` open afresh: what they return outlives the call;
- dates given as text: a filter on the partition column may compare with ISO strings,
  turned into dates so that whole partitions are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from meetstream_catalog.catalog.handles import forget, kept_table
from meetstream_catalog.catalog.history import check_readable
from meetstream_catalog.catalog.schema import PARTITIONS, TABLE_SCHEMAS
from meetstream_catalog.roots import Root

__all__ = [
    "AsOf",
    "Filters",
    "dataset",
    "dataset_of",
    "existing_media_checksums",
    "open_table",
    "read_table",
    "reader_schema",
]

# A pyarrow Expression, or DNF tuples as pyarrow.parquet takes them.
Filters = Any
# A table version, or a point in time (datetime, or ISO 8601 text; naive means UTC).
AsOf = int | str | datetime | None


def _as_of(value: AsOf) -> int | datetime | None:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(value)
        value = datetime.fromisoformat(value.strip())
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def open_table(name: str, root: Root | str, *, as_of: AsOf = None) -> DeltaTable | None:
    """The Delta table `name` (at version/time `as_of`), or None when it does not exist.

    `root` is a `Root` (URL and storage options) or a local path / URL without options.

    Raises ValueError for an `as_of` that is not a version or ISO 8601 time, delta-rs'
    DeltaError for a version or time the table's log does not (or no longer) hold, and
    ErasedVersionError for one that listed files an erasure purged (one clear line).
    """
    when = _as_of(as_of)
    root = Root.at(root)
    try:
        table = DeltaTable(
            root.join(name),
            version=when if isinstance(when, int) else None,
            storage_options=root.delta_options(),
        )
    except TableNotFoundError:
        return None
    if isinstance(when, datetime):
        table.load_as_version(when)
    if when is not None:
        check_readable(name, table, root)
    return table


def reader_schema(name: str, table: DeltaTable | None) -> pa.Schema:
    """The code's declared columns first, then columns only the table has (newer writers)."""
    declared = TABLE_SCHEMAS[name]
    if table is None:
        return declared
    found = pa.schema(table.schema().to_arrow())  # arro3 -> pyarrow via the C data interface
    return pa.schema([*declared, *(f for f in found if f.name not in declared.names)])


def dataset(name: str, root: Root | str, *, as_of: AsOf = None) -> ds.Dataset:
    """The pyarrow Dataset of table `name`'s current (or `as_of`) snapshot.

    Columns the table lacks read as null; an absent table is an empty dataset.
    """
    return dataset_of(name, open_table(name, root, as_of=as_of))


def dataset_of(name: str, table: DeltaTable | None) -> ds.Dataset:
    """The pyarrow Dataset of the snapshot `table` of table `name` (None: empty)."""
    schema = reader_schema(name, table)
    if table is None:
        return ds.InMemoryDataset(schema.empty_table())
    return table.to_pyarrow_dataset(schema=schema)


def _expression(filters: Filters, partition: str) -> ds.Expression | None:
    if filters is None or isinstance(filters, ds.Expression):
        return filters
    if not filters:
        return None

    def fix(term: Sequence[Any]) -> tuple[Any, ...]:
        column, op, value = term
        if column == partition and isinstance(value, str):
            value = date.fromisoformat(value)
        elif column == partition and op in ("in", "not in"):
            value = [date.fromisoformat(v) if isinstance(v, str) else v for v in value]
        return (column, op, value)

    if isinstance(filters[0][0], str):
        return pq.filters_to_expression([fix(t) for t in filters])
    return pq.filters_to_expression([[fix(t) for t in conj] for conj in filters])


def read_table(
    name: str,
    root: Root | str,
    *,
    filters: Filters = None,
    columns: Sequence[str] | None = None,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Table `name` as a DataFrame with every column (absent table: zero rows).

    `filters` is a pyarrow Expression or DNF tuples (`[("meeting_date", ">=", "2025-01-01")]`;
    ISO strings are accepted for the partition column): filters on it skip other
    partitions' files, others skip files by their min/max statistics. `as_of` reads an older
    version (int) or the version current at a time.
    """
    cols = list(columns) if columns is not None else None
    expression = _expression(filters, PARTITIONS[name])

    def frame(data: ds.Dataset) -> pd.DataFrame:
        rows: pd.DataFrame = data.to_table(columns=cols, filter=expression).to_pandas()
        return rows

    if as_of is not None:
        return frame(dataset(name, root, as_of=as_of))
    root = Root.at(root)
    uri, options = root.join(name), root.delta_options()
    try:
        return frame(dataset_of(name, kept_table(uri, options)))
    except FileNotFoundError:  # the table was deleted or re-created since the handle looked
        forget(uri, options)
        return frame(dataset_of(name, kept_table(uri, options)))


def existing_media_checksums(root: Root, bot_id: str) -> dict[str, str]:
    """`{media key: sha256}` of what the catalog already records for `bot_id`."""
    frame = read_table(
        "media",
        root,
        filters=ds.field("bot_id") == bot_id,
        columns=["key", "sha256"],
    )
    return {k: s for k, s in zip(frame["key"], frame["sha256"], strict=True) if isinstance(s, str)}
