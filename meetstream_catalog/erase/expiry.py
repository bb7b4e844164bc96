"""Media retention: archived files older than `MEETSTREAM_MEDIA_RETENTION_DAYS` deleted, their
catalog rows kept with `media_erased_at` set, each run recorded in `erasures`.

Responsibility: `expire_media`, which the nightly maintenance flow runs. Plain Python,
blocking.

Traps guarded against:
- a row naming a file that is gone, unmarked: the rows are marked first (one commit to
  `media` for the meetings concerned), then the files are deleted. A crash in between
  leaves marked rows whose files still exist; the next run resumes the unfinished
  retention (its `started` row names the meetings) and deletes them;
- a day counted twice or never: meetings are selected by `meeting_date` (the partition,
  so older days' files are skipped), and rows already marked are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from meetstream_catalog.catalog.audit import (
    ErasureEvent,
    append_erasure,
    erasure_events,
    latest_by_erasure,
    new_id,
)
from meetstream_catalog.catalog.read import dataset
from meetstream_catalog.catalog.replace import replace_rows
from meetstream_catalog.catalog.schema import PARTITION
from meetstream_catalog.erase.run import delete_media_file
from meetstream_catalog.roots import Root

__all__ = ["RETENTION_SUBJECT", "Expiry", "expire_media"]

RETENTION_SUBJECT = "media_retention"


@dataclass(frozen=True)
class Expiry:
    """What one retention run did: meetings touched, rows marked, files deleted."""

    erasure_id: str | None
    meetings: int = 0
    rows_marked: int = 0
    files_removed: int = 0


def _unfinished(root: Root) -> ErasureEvent | None:
    latest = latest_by_erasure(erasure_events(root))
    pending = [e for e in latest.values() if e.subject == RETENTION_SUBJECT and e.state != "done"]
    return pending[0] if pending else None


def expire_media(
    catalog: Root, media: Root, *, older_than_days: float, now: datetime | None = None
) -> Expiry:
    """Delete the media files of meetings older than `older_than_days` (by meeting date),
    marking their `media` rows first; resume an unfinished run. Returns what was done.

    Raises ValueError for a non-positive age, CatalogConflictError if a commit kept
    conflicting (the `failed` row says so; the next run resumes).
    """
    if older_than_days <= 0:
        raise ValueError("older_than_days must be > 0")
    when = now or datetime.now(UTC)
    cutoff = (when - timedelta(days=older_than_days)).date()
    due = ds.field(PARTITION) < pa.scalar(cutoff, pa.date32())
    fresh = dataset("media", catalog).to_table(
        columns=["bot_id"], filter=due & ds.field("media_erased_at").is_null()
    )
    pending = _unfinished(catalog)
    bots = sorted({*pc.unique(fresh["bot_id"]).to_pylist(), *(pending.bot_ids if pending else ())})
    if not bots:
        return Expiry(None)
    erasure_id = pending.erasure_id if pending else new_id()
    reason = f"MEETSTREAM_MEDIA_RETENTION_DAYS={older_than_days:g}"

    def record(
        state: str, *, files: int | None = None, step: str | None = None, error: str | None = None
    ) -> None:
        event = ErasureEvent(
            erasure_id, state, RETENTION_SUBJECT, reason=reason, bot_ids=tuple(bots),
            files_removed=files, rows_removed=0 if files is not None else None,
            stopped_at=step, error=error,
        )  # fmt: skip
        append_erasure(catalog, event)

    if pending is None:
        record("started")
    try:
        rows = dataset("media", catalog).to_table(filter=ds.field("bot_id").isin(bots))
        marked = pc.and_(pc.less(rows[PARTITION], pa.scalar(cutoff, pa.date32())),
                         pc.is_null(rows["media_erased_at"]))  # fmt: skip
        stamp = pa.array([when] * rows.num_rows, pa.timestamp("us", tz="UTC"))
        column = pc.if_else(marked, stamp, rows["media_erased_at"])
        rows = rows.set_column(
            rows.schema.get_field_index("media_erased_at"), "media_erased_at", column
        )
        if pc.any(marked).as_py():
            replace_rows("media", catalog, bots, rows)
        gone = rows.filter(pc.is_valid(rows["media_erased_at"]))["storage_uri"].to_pylist()
        removed = sum(delete_media_file(str(uri), media) for uri in gone if uri)
    except Exception as exc:
        record("failed", step="retention", error=type(exc).__name__)
        raise
    count = int(pc.sum(marked).as_py() or 0)
    record("done", files=removed)
    return Expiry(erasure_id, len(bots), count, removed)
