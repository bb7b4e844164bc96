"""SQL over the catalog with DuckDB, and a description of its Delta tables.

Responsibility: expose every catalog table (`TABLES`: `bots`, `media`, `participants`,
`speech`, `bot_events`) as a DuckDB view, run one SQL statement over them (optionally at an
older version or time), render or export the result (text table, CSV, JSON, Parquet), and
describe each table (columns, version, files, rows, partitions, last maintenance). Plain
Python: the CLI (`query` / `tables`) is a thin wrapper.

Traps guarded against:
- reading the Parquet files of a Delta table as a directory: that counts replaced and
  compacted-away rows too. The views are the Arrow datasets of the tables' current
  snapshots (`meetstream_catalog.catalog.read.dataset`: only the files the Delta log lists),
  with the code's declared columns (a column the table lacks reads as null);
- s3:// without DuckDB's httpfs or delta extension: delta-rs reads the log and the files
  with the same credentials as the writer, so MinIO/moto endpoints work offline; DuckDB
  pushes `WHERE` filters down into the Arrow scan, so a filter on the partition column
  (`meeting_date`; `bot_events`: `event_date`) skips whole partitions and filters on other
  columns use the files' statistics;
- surprise network traffic: extension auto-install is off, so a query naming an
  `https://` file fails instead of downloading httpfs;
- duckdb is an optional extra: it is imported lazily and its absence is a clear error.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake.exceptions import DeltaError

from meetstream_catalog.catalog.history import ErasedVersionError
from meetstream_catalog.catalog.maintenance import last_maintenance
from meetstream_catalog.catalog.read import AsOf, dataset, open_table, reader_schema
from meetstream_catalog.catalog.schema import AUDIT_TABLES, PARTITIONS, SCHEMA_VERSION, TABLES
from meetstream_catalog.roots import Root

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "FORMATS",
    "ColumnInfo",
    "QueryError",
    "QueryUnavailableError",
    "TableInfo",
    "connect",
    "describe_tables",
    "format_tables",
    "missing_tables",
    "render_text",
    "run_query",
    "write_result",
]

FORMATS = ("table", "csv", "json", "parquet")
INSTALL_HINT = "pip install 'meetstream-catalog[query]'"


class QueryUnavailableError(RuntimeError):
    """DuckDB is not installed. Install the `query` extra (the message says how)."""


class QueryError(ValueError):
    """The SQL could not be run (syntax, unknown column, failed read). One-line message."""


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:
        raise QueryUnavailableError(
            f"SQL queries need DuckDB, which is not installed: {INSTALL_HINT}"
        ) from exc
    return duckdb


def connect(
    root: Root | str, *, as_of: AsOf = None, tables: Sequence[str] = TABLES
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per catalog table in `tables` (default:
    every one) on `root` (each table's snapshot at `as_of`, a version or time, when given).

    Raises QueryUnavailableError when duckdb is missing.
    """
    db, root = _duckdb(), Root.at(root)
    con: duckdb.DuckDBPyConnection = db.connect(config={"autoinstall_known_extensions": False})
    for name in tables:
        # register() keeps a reference to the dataset; DuckDB scans it lazily per query,
        # pushing projections and filters into pyarrow. The audit tables (exports,
        # erasures) are always read as they are now: they are the record of the history.
        when = None if name in AUDIT_TABLES else as_of
        con.register(name, dataset(name, root, as_of=when))
    return con


def referenced_tables(sql: str) -> tuple[str, ...]:
    """The catalog tables `sql` reads, so a query opens only those (each open reads the
    table's log; and `--as-of` on one table's erased version must not refuse a query of
    another). Every table when DuckDB cannot tell (it binds some joins, `USING` among them)
    or names none (`SHOW TABLES`)."""
    try:
        named = _duckdb().get_table_names(sql)
    except Exception:  # noqa: BLE001 - any doubt: register everything, as before
        return TABLES
    return tuple(name for name in TABLES if name in named) or TABLES


def missing_tables(root: Root | str) -> list[str]:
    """Tables with no Delta log under `root` (all of them: probably a wrong root)."""
    root = Root.at(root)
    return [name for name in TABLES if open_table(name, root) is None]


def _one_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def run_query(
    sql: str,
    root: Root | str,
    *,
    as_of: AsOf = None,
) -> pa.Table:
    """Run `sql` over the catalog at `root` (at `as_of`); return the result as Arrow.

    Raises QueryError (one-line message) for any DuckDB error or an `as_of` the tables
    cannot be read at, QueryUnavailableError when duckdb is missing.
    """
    db = _duckdb()
    try:
        con = connect(root, as_of=as_of, tables=referenced_tables(sql))
    except ErasedVersionError as exc:
        raise QueryError(str(exc)) from exc
    except (ValueError, DeltaError) as exc:
        raise QueryError(f"cannot read the catalog as of {as_of!r}: {_one_line(exc)}") from exc
    try:
        relation = con.sql(sql)
        if relation is None:  # a statement without a result (SET, CREATE VIEW, ...)
            return pa.table({})
        result: pa.Table = relation.to_arrow_table()
    except db.Error as exc:
        raise QueryError(_one_line(exc)) from exc
    finally:
        con.close()
    return result


def render_text(table: pa.Table, *, max_width: int | None = None, max_rows: int = 10_000) -> str:
    """DuckDB's boxed rendering of `table` (column types under the names, NULL shown)."""
    db = _duckdb()
    if table.num_columns == 0:
        return "(no result)\n"
    out = io.StringIO()
    with db.connect() as con, contextlib.redirect_stdout(out):
        # show() prints through Python's sys.stdout, so it can be captured as a string.
        con.from_arrow(table).show(max_width=max_width, max_rows=max_rows)
    return out.getvalue()


def _plain(value: Any) -> Any:
    """A JSON-ready Python value: ISO dates, floats without NaN, text for the rest."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):  # map entries come back as (key, value) tuples
        return [_plain(v) for v in value]
    return value


def _rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    for batch in table.to_batches():
        for row in batch.to_pylist():
            yield {k: _plain(v) for k, v in row.items()}


def _csv_cell(value: Any) -> Any:
    # Lists and structs have no CSV form: write them as JSON text, which every reader parses.
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):  # as DuckDB and JSON spell them, not Python's True/False
        return "true" if value else "false"
    return "" if value is None else value


def write_result(
    table: pa.Table,
    fmt: str,
    out: IO[str] | None = None,
    *,
    output: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Write `table` as `fmt`: csv/json/table text to `out`, parquet to the `output` URL.

    JSON is an array of objects; dates and timestamps are ISO 8601; nulls are null (CSV:
    empty). Raises ValueError for an unknown format or parquet without `output`.
    """
    if fmt == "parquet":
        if not output:
            raise ValueError("--format parquet needs --output FILE")
        with fsspec.open(output, "wb", **(storage_options or {})) as handle:
            pq.write_table(table, handle, compression="zstd")
        return
    if out is None:
        raise ValueError(f"format {fmt!r} writes to a text stream")
    if fmt == "table":
        out.write(render_text(table))
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in _rows(table):
            writer.writerow([_csv_cell(v) for v in row.values()])
    elif fmt == "json":
        json.dump(list(_rows(table)), out, ensure_ascii=False, indent=1)
        out.write("\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool
    partition: bool = False


@dataclass(frozen=True)
class TableInfo:
    """What `meetstream-catalog tables` shows for one Delta table (version None: absent)."""

    name: str
    schema_version: int  # the version this code writes
    version: int | None
    columns: tuple[ColumnInfo, ...]
    rows: int
    files: int
    partitions: int
    last_optimize: str | None
    last_vacuum: str | None


def _describe(name: str, root: Root) -> TableInfo:
    table = open_table(name, root)
    partition = PARTITIONS[name]
    columns = tuple(
        ColumnInfo(f.name, str(f.type), f.nullable, partition=f.name == partition)
        for f in reader_schema(name, table)
    )
    if table is None:
        return TableInfo(name, SCHEMA_VERSION, None, columns, 0, 0, 0, None, None)
    # The add actions of the snapshot: one per live file, with its row count (no data read).
    files = pa.table(table.get_add_actions(flatten=True))
    done = last_maintenance(table)
    return TableInfo(
        name=name,
        schema_version=SCHEMA_VERSION,
        version=table.version(),
        columns=columns,
        rows=int(pc.sum(files["num_records"]).as_py() or 0),
        files=files.num_rows,
        partitions=len(pc.unique(files[f"partition.{partition}"])),
        last_optimize=done["optimize"],
        last_vacuum=done["vacuum"],
    )


def describe_tables(root: Root | str) -> list[TableInfo]:
    """Describe every catalog table (`TABLES`) at `root` from its Delta log."""
    root = Root.at(root)
    return [_describe(name, root) for name in TABLES]


def format_tables(infos: Sequence[TableInfo]) -> str:
    """Plain-text description of the tables, one block per table."""
    blocks = []
    for info in infos:
        state = "absent" if info.version is None else f"version {info.version}"
        partition = next(c.name for c in info.columns if c.partition)
        lines = [
            f"{info.name}: {info.rows} rows in {info.files} files, {info.partitions} "
            f"partitions ({partition}); {state}, schema v{info.schema_version}; last "
            f"optimize {info.last_optimize or 'never'}, last vacuum {info.last_vacuum or 'never'}"
        ]
        width = max(len(c.name) for c in info.columns)
        for col in info.columns:
            flags = "partition" if col.partition else ("" if col.nullable else "not null")
            lines.append(f"  {col.name:<{width}}  {col.type:<24}  {flags}".rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
