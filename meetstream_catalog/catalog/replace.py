"""One commit to one table: remove every row of some bots, add their new rows.

Responsibility: `replace_rows`, an overwrite-by-predicate on `bot_id` (with schema merge
and the catalog's table properties), retried on conflict, through the table handle this
thread keeps open (`handles`). Plain Python, blocking.

Traps guarded against:
- duplicated rows on re-runs, or rows left on the old day when a bot's meeting date
  changes: the predicate removes the bots' rows wherever they are and the new rows are
  added in the same atomic commit;
- an id that breaks the predicate: ids are quoted as SQL string literals (`'` doubled,
  NUL refused: `sql_literal`);
- a kept handle describing a table since deleted or re-created under the same URI (its
  files are gone): the commit fails, the handle is forgotten and the commit tried once
  more on a fresh open.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError

from meetstream_catalog.catalog.commit_retry import is_conflict, retry_conflicts
from meetstream_catalog.catalog.handles import forget, kept_table
from meetstream_catalog.catalog.properties import COMMIT, HOOKS, TABLE_PROPERTIES, WRITER
from meetstream_catalog.catalog.schema import PARTITION
from meetstream_catalog.roots import Root

__all__ = ["replace_rows", "sql_literal"]


def sql_literal(value: str) -> str:
    """`value` as a SQL string literal for a delta-rs predicate.

    Raises ValueError for a NUL character, which no literal can carry.
    """
    if "\x00" in value:
        raise ValueError("a NUL character cannot be part of a catalog key")
    return "'" + value.replace("'", "''") + "'"


def replace_rows(name: str, root: Root, bot_ids: Sequence[str], data: pa.Table) -> None:
    """One commit to table `name`: remove every row of `bot_ids`, add `data`.

    Raises CatalogConflictError if the commit kept conflicting, and delta-rs' errors for
    anything else (nothing is committed then).
    """
    uri, options = root.join(name), root.delta_options()
    quoted = ", ".join(sql_literal(b) for b in bot_ids)
    predicate = f"bot_id = {quoted}" if len(bot_ids) == 1 else f"bot_id IN ({quoted})"

    def write(table: DeltaTable | None) -> None:
        write_deltalake(
            uri if table is None else table,
            data,
            mode="overwrite",
            predicate=predicate,
            partition_by=[PARTITION],
            schema_mode="merge",
            configuration=TABLE_PROPERTIES,  # applied when this commit creates the table
            storage_options=options,
            writer_properties=WRITER,
            commit_properties=COMMIT,
            post_commithook_properties=HOOKS,
        )

    def commit() -> None:
        table = kept_table(uri, options)
        try:
            write(table)
        except DeltaError as exc:
            if table is None or is_conflict(exc):
                raise
            # A kept handle can describe a table since deleted or re-created under the same
            # URI (its files are gone): forget it and try once more on a fresh open.
            forget(uri, options)
            write(kept_table(uri, options))

    who = f"bot {bot_ids[0]!r}" if len(bot_ids) == 1 else f"{len(bot_ids)} bots"
    retry_conflicts(commit, what=f"catalog table {name!r}, {who}")
