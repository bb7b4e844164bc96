"""The audit tables: `exports` (what each export run wrote) and `erasures` (what each
erasure removed), both append-only Delta tables of the catalog.

Responsibility: `ExportRecord` / `record_export`, `ErasureEvent` / `append_erasure`, and
reading them back (`exports_of`, `erasure_events`, `erasures_summary`), plus
`participant_digest`, the only form in which a participant appears in either table.

Traps guarded against:
- personal data in the audit: a participant key is a normalized display name, so these
  tables hold its sha256 digest (`participant_digest`), never the key or the name; the
  location of an export is a URL without credentials (`Root.url`);
- an erasure's progress lost in a crash: each step appends its own row (`started`,
  `purging`, `failed`, `done`); appends never conflict, so recording a step cannot fail
  because of a concurrent capture, and the latest row of an erasure id says where it is.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from meetstream_catalog.catalog.append import append_rows
from meetstream_catalog.catalog.schema import ERASURES, EXPORTS, PARTITIONS, TABLE_SCHEMAS
from meetstream_catalog.roots import Root

__all__ = [
    "ErasureEvent",
    "ExportRecord",
    "append_erasure",
    "erasure_events",
    "exports_of",
    "latest_by_erasure",
    "new_id",
    "participant_digest",
    "record_export",
]


def participant_digest(participant_key: str) -> str:
    """The sha256 hex digest of a participant key: how the audit tables name a person."""
    return hashlib.sha256(participant_key.encode()).hexdigest()


def new_id() -> str:
    """A fresh id for an export run or an erasure."""
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ExportRecord:
    """One export run: when, the format, where (a URL), the filter, what it wrote."""

    format: str
    location: str
    filter: str | None
    bot_ids: tuple[str, ...]
    participant_digests: tuple[str, ...]
    meetings: int = 0
    files: int = 0
    export_id: str = field(default_factory=new_id)
    exported_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class ErasureEvent:
    """One step of one erasure, as appended to `erasures` (ids and counts only)."""

    erasure_id: str
    state: str  # started | purging | failed | done
    subject: str  # bot | participant | participant_everywhere
    bot_id: str | None = None
    participant_digest: str | None = None
    reason: str | None = None
    bot_ids: tuple[str, ...] = ()
    media_version: int | None = None
    files_removed: int | None = None
    rows_removed: int | None = None
    rows_by_table: dict[str, int] | None = None
    export_entries_removed: int | None = None
    exports_unreached: tuple[str, ...] = ()
    purged_files: tuple[str, ...] = ()
    meetstream_deleted: bool | None = None
    stopped_at: str | None = None
    error: str | None = None
    at: datetime = field(default_factory=_now)


def record_export(root: Root | str, record: ExportRecord) -> None:
    """Append `record` to the `exports` table (one commit). Blocking."""
    row = {
        **asdict(record),
        "bot_ids": list(record.bot_ids),
        "participant_digests": list(record.participant_digests),
        PARTITIONS[EXPORTS]: record.exported_at.date(),
    }
    append_rows(root, EXPORTS, [row])


def append_erasure(root: Root | str, event: ErasureEvent) -> None:
    """Append one step of an erasure to the `erasures` table (one commit). Blocking."""
    row = {
        **asdict(event),
        "bot_ids": list(event.bot_ids),
        "exports_unreached": list(event.exports_unreached),
        "purged_files": list(event.purged_files),
        "rows_by_table": json.dumps(event.rows_by_table) if event.rows_by_table else None,
        PARTITIONS[ERASURES]: event.at.date(),
    }
    append_rows(root, ERASURES, [row])


def _rows(root: Root | str, name: str) -> pa.Table:
    root = Root.at(root)
    try:
        table = DeltaTable(root.join(name), storage_options=root.delta_options())
    except TableNotFoundError:
        return TABLE_SCHEMAS[name].empty_table()
    data: pa.Table = table.to_pyarrow_table()
    return data


def exports_of(root: Root | str) -> list[ExportRecord]:
    """Every recorded export run, oldest first."""
    records = [
        ExportRecord(
            format=r["format"],
            location=r["location"],
            filter=r["filter"],
            bot_ids=tuple(r["bot_ids"] or ()),
            participant_digests=tuple(r["participant_digests"] or ()),
            meetings=r["meetings"] or 0,
            files=r["files"] or 0,
            export_id=r["export_id"],
            exported_at=r["exported_at"],
        )
        for r in _rows(root, EXPORTS).to_pylist()
    ]
    return sorted(records, key=lambda r: r.exported_at)


def erasure_events(root: Root | str) -> list[ErasureEvent]:
    """Every recorded erasure step, oldest first."""
    events = []
    for r in _rows(root, ERASURES).to_pylist():
        by_table = json.loads(r["rows_by_table"]) if r["rows_by_table"] else None
        r.pop(PARTITIONS[ERASURES])
        events.append(
            ErasureEvent(
                **{
                    **r,
                    "bot_ids": tuple(r["bot_ids"] or ()),
                    "exports_unreached": tuple(r["exports_unreached"] or ()),
                    "purged_files": tuple(r["purged_files"] or ()),
                    "rows_by_table": by_table,
                }
            )
        )
    return sorted(events, key=lambda e: e.at)


def latest_by_erasure(events: Sequence[ErasureEvent]) -> dict[str, ErasureEvent]:
    """`{erasure id: its latest step}`, in the order the erasures started."""
    latest: dict[str, ErasureEvent] = {}
    for event in events:  # a dict keeps the position of an id's first step
        latest[event.erasure_id] = event
    return latest
