"""Table handles a thread keeps open, brought up to date before each use.

Responsibility: `kept_table`, the current snapshot of a table through a handle this thread
opened earlier, and `forget`. The catalog's writers (`replace`) and its readers of the
current version (`read.dataset`) share them. Plain Python, blocking.

Traps guarded against:
- paying a fresh open for every read and commit: opening a table reads `_last_checkpoint`,
  the last checkpoint and every commit after it (on S3, ~10 requests per table), while a
  kept handle only lists and reads the commits made since it last looked
  (`update_incremental`). A process that captures ten meetings opens each table once;
- a DeltaTable is mutable state: handles are per thread, and never handed to callers
  outside the catalog package (`open_table` opens afresh);
- a handle whose log was cleaned up, or whose table was deleted: dropped and opened again.
  A writer that finds a kept handle describing a table re-created under the same URI
  forgets it and retries (`replace_rows`).
"""

from __future__ import annotations

import json
import threading

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

__all__ = ["Options", "forget", "kept_table"]

# delta-rs storage options: None for a local root.
Options = dict[str, str] | None


class _Handles(threading.local):
    """This thread's open handles, `{(table uri, options): DeltaTable}`."""

    def __init__(self) -> None:
        self.tables: dict[tuple[str, str], DeltaTable] = {}


_HANDLES = _Handles()


def _key(uri: str, options: Options) -> tuple[str, str]:
    return (uri, json.dumps(options, sort_keys=True))


def kept_table(uri: str, options: Options) -> DeltaTable | None:
    """This thread's handle on `uri`, brought up to date (None: no table yet)."""
    table = _HANDLES.tables.get(_key(uri, options))
    if table is not None:
        try:
            table.update_incremental()
            return table
        except DeltaError:  # e.g. the log entries after it were cleaned up: reopen
            forget(uri, options)
    try:
        table = DeltaTable(uri, storage_options=options)
    except TableNotFoundError:
        return None
    _HANDLES.tables[_key(uri, options)] = table
    return table


def forget(uri: str, options: Options) -> None:
    """Drop this thread's handle on `uri`, if any: the next use opens the table afresh."""
    _HANDLES.tables.pop(_key(uri, options), None)
