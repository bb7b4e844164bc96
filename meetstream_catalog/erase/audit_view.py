"""The erasures as a person reads them: one line per erasure, its latest state and totals.

An erasure appends a row per step (`started`, `purging`, `failed`, `done`); a re-run of an
interrupted one appends to the same erasure id. What was removed is the sum of what each
run recorded when it failed or finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from meetstream_catalog.catalog.audit import ErasureEvent, erasure_events
from meetstream_catalog.roots import Root

__all__ = ["ErasureSummary", "erasure_rows", "format_erasures"]


@dataclass
class ErasureSummary:
    """One erasure: who (ids only), why, how far it got, what it removed."""

    erasure_id: str
    started_at: datetime
    state: str
    subject: str
    bot_id: str | None
    participant_digest: str | None
    reason: str | None
    meetings: int = 0
    files_removed: int = 0
    rows_removed: int = 0
    export_entries_removed: int = 0
    purged_files: int = 0
    exports_unreached: list[str] = field(default_factory=list)
    meetstream_deleted: bool | None = None
    stopped_at: str | None = None


def _add(summary: ErasureSummary, event: ErasureEvent) -> None:
    summary.state = event.state
    summary.stopped_at = event.stopped_at if event.state == "failed" else None
    if event.state in ("failed", "done"):
        summary.files_removed += event.files_removed or 0
        summary.rows_removed += event.rows_removed or 0
        summary.export_entries_removed += event.export_entries_removed or 0
        summary.exports_unreached = list(event.exports_unreached)
        if event.meetstream_deleted is not None:
            summary.meetstream_deleted = event.meetstream_deleted
    if event.state == "done":
        summary.purged_files += len(event.purged_files)


def erasure_rows(root: Root) -> list[ErasureSummary]:
    """Every erasure, in the order they started."""
    summaries: dict[str, ErasureSummary] = {}
    for event in erasure_events(root):
        summary = summaries.setdefault(
            event.erasure_id,
            ErasureSummary(
                event.erasure_id, event.at, event.state, event.subject, event.bot_id,
                event.participant_digest, event.reason, len(event.bot_ids),
            ),
        )  # fmt: skip
        _add(summary, event)
    return list(summaries.values())


def format_erasures(rows: list[ErasureSummary]) -> str:
    """A table for the terminal: id, start, state, subject, ids, reason, counts."""
    if not rows:
        return "no erasures\n"
    lines = []
    for r in rows:
        who = r.bot_id or f"{r.meetings} meeting(s)"
        if r.subject == "media_retention":
            who = f"media of {r.meetings} meeting(s), by retention"
        elif r.participant_digest:
            who = f"participant sha256:{r.participant_digest[:12]} in {who}"
        state = f"{r.state} at {r.stopped_at}" if r.stopped_at else r.state
        lines.append(
            f"{r.erasure_id}  {r.started_at:%Y-%m-%d %H:%M}  {state:<8}  {who}  "
            f"reason={r.reason!r}  files={r.files_removed} rows={r.rows_removed} "
            f"exports={r.export_entries_removed} purged={r.purged_files}"
            + (f" unreached={len(r.exports_unreached)}" if r.exports_unreached else "")
        )
    return "\n".join(lines) + "\n"
