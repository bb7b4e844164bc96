"""Running an erasure: every copy of a subject removed, in an order a crash cannot break.

Responsibility: `run_erasure`, the steps in this order, each recorded in `erasures`:

1. `started` is appended (erasure id, subject ids, reason, the `media` version now);
2. exports: the subject's lines and files leave every export folder that holds them (before
   the rows, which say what those entries are);
3. rows: one Delta DELETE per table, `words` ... `media` (`ERASE_ORDER`), then the `bots`
   row (deleted for a bot; rewritten with fresh counts for a participant);
4. files: the media files the `media` rows named;
5. MeetStream: for a bot, its data is deleted there too ("already deleted" is fine);
6. history: the old data files that still hold the subject are listed in a `purging` row,
   then deleted;
7. `done`, with the counts.

Why this order: rows go before files, so no row ever names a missing file; a file whose row
is gone exists only while its erasure is not `done`, and a re-run finds it again by reading
`media` at the version recorded in `started` (the history purge, which would make that
version unreadable, comes after the files). A failure appends `failed` with the step it
stopped at. Running the same erasure again resumes the unfinished one: every step is
idempotent (a DELETE that matches nothing commits nothing; a missing file is already gone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from meetstream_catalog.catalog.audit import (
    ErasureEvent,
    append_erasure,
    erasure_events,
    new_id,
    participant_digest,
)
from meetstream_catalog.catalog.erase_rows import delete_rows, names_person, rewrite_bots
from meetstream_catalog.catalog.erase_scope import Subject, arrow_filter, sql_predicate
from meetstream_catalog.catalog.history import files_holding, purge_files
from meetstream_catalog.erase.plan import ErasurePlan, export_folder, plan_erasure
from meetstream_catalog.export.cleanup import clean_export
from meetstream_catalog.roots import Root

__all__ = ["ErasureReport", "delete_media_file", "run_erasure", "unfinished_erasure"]


@dataclass
class ErasureReport:
    """What one run of an erasure removed."""

    erasure_id: str
    resumed: bool
    rows_by_table: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    export_entries_removed: int = 0
    exports_unreached: list[str] = field(default_factory=list)
    purged_files: list[str] = field(default_factory=list)
    meetstream_deleted: bool | None = None

    @property
    def rows_removed(self) -> int:
        return sum(self.rows_by_table.values())


def unfinished_erasure(root: Root, subject: Subject) -> ErasureEvent | None:
    """The `started` row of an erasure of `subject` that never reached `done`, if any."""
    digest = participant_digest(subject.participant_key) if subject.participant_key else None
    started: dict[str, ErasureEvent] = {}
    for event in erasure_events(root):
        same = (event.subject, event.bot_id, event.participant_digest) == (
            subject.kind, subject.bot_id, digest
        )  # fmt: skip
        if same and event.state == "started":
            started[event.erasure_id] = event
        elif event.state == "done":
            started.pop(event.erasure_id, None)
    return next(iter(started.values()), None)


def delete_media_file(uri: str, media: Root) -> bool:
    """Delete one archived file (local or S3); False when it was already gone."""
    options = dict(media.options) if uri.startswith(f"{media.protocol}://") else {}
    fs, path = fsspec.core.url_to_fs(uri, **options)
    try:
        fs.rm(path)
    except FileNotFoundError:
        return False
    return True


def _history_columns(subject: Subject, table: str) -> list[str]:
    if subject.participant_key is None:
        return ["bot_id"]
    return ["bot_id", "participant_key", *(["kind"] if table == "media" else [])]


class _Run:
    """One run of an erasure: appends its steps to `erasures`, with the same ids each time."""

    def __init__(self, plan: ErasurePlan, reason: str, erasure_id: str, catalog: Root) -> None:
        self.plan, self.reason, self.erasure_id, self.catalog = plan, reason, erasure_id, catalog

    def append(
        self,
        state: str,
        report: ErasureReport | None = None,
        *,
        media_version: int | None = None,
        stopped_at: str | None = None,
        error: str | None = None,
    ) -> None:
        s = self.plan.subject
        r = report or ErasureReport(self.erasure_id, resumed=False)
        event = ErasureEvent(
            erasure_id=self.erasure_id,
            state=state,
            subject=s.kind,
            bot_id=s.bot_id,
            participant_digest=participant_digest(s.participant_key) if s.participant_key else None,
            reason=self.reason,
            bot_ids=self.plan.bot_ids,
            media_version=media_version,
            files_removed=r.files_removed if report else None,
            rows_removed=r.rows_removed if report else None,
            rows_by_table=dict(r.rows_by_table) if report else None,
            export_entries_removed=r.export_entries_removed if report else None,
            exports_unreached=tuple(r.exports_unreached),
            purged_files=tuple(r.purged_files) if state in ("purging", "done") else (),
            meetstream_deleted=r.meetstream_deleted,
            stopped_at=stopped_at,
            error=error,
        )
        append_erasure(self.catalog, event)


def run_erasure(
    subject: Subject,
    reason: str,
    *,
    catalog: Root,
    media: Root,
    delete_at_source: Callable[[str], bool] | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> ErasureReport:
    """Erase `subject` everywhere (resuming an unfinished erasure of it); return the report.

    `delete_at_source(bot_id)` deletes a bot's data at MeetStream (False: already gone);
    `say` hears one line per step. Raises what a step raised, after appending `failed`.
    """
    unfinished = unfinished_erasure(catalog, subject)
    version = unfinished.media_version if unfinished else None
    plan = plan_erasure(catalog, subject, media_version=version)
    report = ErasureReport(
        unfinished.erasure_id if unfinished else new_id(), unfinished is not None
    )
    run = _Run(plan, reason, report.erasure_id, catalog)
    if unfinished is None:
        run.append("started", media_version=plan.media_version)
    say(f"erasure {report.erasure_id} {'resumed' if report.resumed else 'started'}")
    step = "exports"
    try:
        _exports(plan, report, say)
        step = "rows"
        _rows(plan, catalog, report, say)
        step = "files"
        report.files_removed = sum(delete_media_file(uri, media) for uri in plan.files)
        say(f"files: {report.files_removed} deleted")
        step = "meetstream"
        if subject.kind == "bot" and delete_at_source is not None:
            report.meetstream_deleted = delete_at_source(str(subject.bot_id))
            say(f"meetstream: {'deleted' if report.meetstream_deleted else 'already deleted'}")
        step = "history"
        _history(plan, catalog, run, report, say)
    except BaseException as exc:
        run.append("failed", report, stopped_at=step, error=type(exc).__name__)
        raise
    run.append("done", report)
    say(f"erasure {report.erasure_id} done")
    return report


def _exports(plan: ErasurePlan, report: ErasureReport, say: Callable[[str], None]) -> None:
    for target in plan.exports:
        folder = export_folder(target.record)
        try:
            if folder is None:
                raise FileNotFoundError(target.record.location)
            removed = clean_export(target.record.format, folder, plan.erased)
        except (FileNotFoundError, ValueError, PermissionError):
            report.exports_unreached.append(target.record.location)
            say(f"exports: could not reach {target.record.location}")
            continue
        report.export_entries_removed += removed
        say(f"exports: {removed} entries removed from {target.record.location}")


def _rows(
    plan: ErasurePlan, catalog: Root, report: ErasureReport, say: Callable[[str], None]
) -> None:
    s = plan.subject
    for table in s.tables():
        where = arrow_filter(s, table, plan.bot_ids)
        n = delete_rows(catalog, table, sql_predicate(s, table, plan.bot_ids), where)
        report.rows_by_table[table] = n
        say(f"rows: {table} {n} deleted")
    if s.participant_key is not None:
        n = rewrite_bots(catalog, plan.bot_ids, s.participant_key)
        say(f"rows: bots {n} rewritten")


def _history(
    plan: ErasurePlan, catalog: Root, run: _Run, report: ErasureReport, say: Callable[[str], None]
) -> None:
    s = plan.subject
    found: dict[str, list[str]] = {
        table: files_holding(
            catalog, table, _history_columns(s, table), arrow_filter(s, table, plan.bot_ids)
        )
        for table in s.tables()
    }
    if s.participant_key is not None:  # older `bots` rows whose missing_files name them
        key = s.participant_key

        def names(rows: pa.Table) -> bool:
            lines = pc.list_flatten(rows["missing_files"]).to_pylist()
            return any(names_person(str(line), key) for line in lines)

        bots = ds.field("bot_id").isin(list(plan.bot_ids))
        found["bots"] = files_holding(catalog, "bots", ["bot_id", "missing_files"], bots, names)
    report.purged_files = [f"{table}/{path}" for table, paths in found.items() for path in paths]
    run.append("purging", report)
    for table, paths in found.items():
        purge_files(catalog, table, paths)
    say(f"history: {len(report.purged_files)} old data files purged")
