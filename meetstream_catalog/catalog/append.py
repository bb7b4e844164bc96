"""Appending rows to an append-only catalog table (`bot_events`, `intents`), one commit.

Appends never conflict with each other (delta-rs: a blind append does not read what it
could conflict with), so many writers need no lock. A conflict with anything else (a
maintenance commit that changes the table's metadata) is retried like every catalog
commit. The first append creates the table with the catalog's properties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from meetstream_catalog.catalog.commit_retry import retry_conflicts
from meetstream_catalog.catalog.properties import COMMIT, HOOKS, TABLE_PROPERTIES, WRITER
from meetstream_catalog.catalog.schema import PARTITIONS, TABLE_SCHEMAS
from meetstream_catalog.roots import Root

__all__ = ["append_rows"]


def append_rows(root: Root | str, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append `rows` to `table` in one commit. Blocking.

    Raises CatalogConflictError if the commit kept conflicting.
    """
    if not rows:
        return
    data = pa.Table.from_pylist([dict(r) for r in rows], schema=TABLE_SCHEMAS[table])
    root = Root.at(root)
    uri, options = root.join(table), root.delta_options()

    def append() -> None:
        write_deltalake(
            uri,
            data,
            mode="append",
            partition_by=[PARTITIONS[table]],
            schema_mode="merge",
            configuration=TABLE_PROPERTIES,  # applied when this commit creates the table
            storage_options=options,
            writer_properties=WRITER,
            commit_properties=COMMIT,
            post_commithook_properties=HOOKS,
        )

    retry_conflicts(append, what=f"catalog table {table!r}, {len(rows)} row(s)")
