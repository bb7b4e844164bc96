"""What an erasure removes, read from the catalog before anything is removed.

Responsibility: `plan_erasure` (the subject's meetings, rows per table, media files, the
export folders that hold them and the entries each would lose) and `format_plan`, the dry
run's listing. Plain Python, blocking; nothing here writes.

Traps guarded against:
- the list of files lost in a crash: the files are the `media` rows' storage URIs, and
  rows go before files; a re-run of an erasure interrupted after its rows went reads them
  at the `media` version recorded when it started (`files_at`), which its history purge
  (the last step before `done`) has not removed yet;
- a person in a shared recording: see `meetstream_catalog.catalog.erase_scope`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from meetstream_catalog.catalog.audit import ExportRecord, exports_of, participant_digest
from meetstream_catalog.catalog.erase_rows import count_rows, subject_bots
from meetstream_catalog.catalog.erase_scope import Subject, arrow_filter
from meetstream_catalog.catalog.history import ErasedVersionError
from meetstream_catalog.catalog.read import dataset, open_table
from meetstream_catalog.export.cleanup import Erased, clean_export
from meetstream_catalog.roots import Root

__all__ = [
    "ErasurePlan",
    "ExportTarget",
    "export_folder",
    "files_at",
    "format_plan",
    "plan_erasure",
]


@dataclass(frozen=True)
class ExportTarget:
    """An export folder that holds the subject, and what it would lose (None: unreachable)."""

    record: ExportRecord
    entries: int | None


@dataclass(frozen=True)
class ErasurePlan:
    """Everything one erasure removes, as found in the catalog now."""

    subject: Subject
    bot_ids: tuple[str, ...]
    rows: dict[str, int]
    files: tuple[str, ...]  # storage URIs
    media_version: int | None
    erased: Erased
    exports: tuple[ExportTarget, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (any(self.rows.values()) or self.files or self.exports)


def _rows(
    root: Root, table: str, subject: Subject, bots: tuple[str, ...]
) -> list[dict[str, object]]:
    data = dataset(table, root).to_table(filter=arrow_filter(subject, table, bots))
    rows: list[dict[str, object]] = data.to_pylist()
    return rows


def _f3(value: object) -> str:
    return f"{float(str(value)):.3f}"


def _erased(root: Root, subject: Subject, bots: tuple[str, ...]) -> Erased:
    media = _rows(root, "media", subject, bots)
    audio = {
        f"{m['bot_id']}/{m['stream_id']}_{m['segment_index']}.webm"
        for m in media
        if m["kind"] == "audio"
    }
    if subject.kind == "bot":
        uris = {str(m["storage_uri"]) for m in media if m["storage_uri"]}
        return Erased(whole_bots=frozenset(bots), media_uris=frozenset(uris))
    speech = _rows(root, "speech", subject, bots)
    said = _rows(root, "utterances", subject, bots)
    words = _rows(root, "words", subject, bots)
    return Erased(
        media_uris=frozenset(str(m["storage_uri"]) for m in media if m["storage_uri"]),
        audio_files=frozenset(audio),
        turns=frozenset((str(t["bot_id"]), int(str(t["turn_index"]))) for t in speech),
        turn_spans=frozenset(
            (str(t["bot_id"]), _f3(t["start_seconds"]), _f3(t["duration_seconds"]))
            for t in speech
            if t["start_seconds"] is not None and t["duration_seconds"] is not None
        ),
        utterances=frozenset((str(u["bot_id"]), int(str(u["utterance_index"]))) for u in said),
        words=frozenset(_word(w) for w in words if w["start_seconds"] is not None and w["word"]),
    )


def _word(w: dict[str, object]) -> tuple[str, str, str, str]:
    """A timed word as the CTM writer printed it: bot, start, duration, token."""
    start = float(str(w["start_seconds"]))
    end = float(str(w["end_seconds"])) if w["end_seconds"] is not None else start
    token = "_".join(str(w["word"]).split())
    return (str(w["bot_id"]), f"{start:.3f}", f"{max(end - start, 0.0):.3f}", token)


def files_at(root: Root, subject: Subject, bots: tuple[str, ...], version: int | None) -> set[str]:
    """Storage URIs of the subject's `media` rows now, and at `version` when given."""
    found = {str(m["storage_uri"]) for m in _rows(root, "media", subject, bots) if m["storage_uri"]}
    if version is not None:
        try:
            table = open_table("media", root, as_of=version)
        except ErasedVersionError:  # purged by a later erasure of the same meeting
            return found
        if table is not None:
            old = table.to_pyarrow_dataset().to_table(
                columns=["storage_uri"], filter=arrow_filter(subject, "media", bots)
            )
            found.update(str(u) for u in old["storage_uri"].to_pylist() if u)
    return found


def export_folder(record: ExportRecord) -> Path | None:
    """The local folder an export run wrote (None: not a local `file://` location)."""
    if not record.location.startswith("file://"):
        return None
    return Path(unquote(record.location.removeprefix("file://")))


def _export_targets(
    root: Root, subject: Subject, bots: tuple[str, ...], erased: Erased
) -> list[ExportTarget]:
    digest = participant_digest(subject.participant_key) if subject.participant_key else None
    targets = []
    for record in exports_of(root):
        if not set(record.bot_ids) & set(bots):
            continue
        if digest is not None and digest not in record.participant_digests:
            continue
        folder = export_folder(record)
        try:
            entries = (
                None
                if folder is None
                else clean_export(record.format, folder, erased, dry_run=True)
            )
        except (FileNotFoundError, ValueError):
            entries = None
        targets.append(ExportTarget(record, entries))
    return targets


def plan_erasure(root: Root, subject: Subject, *, media_version: int | None = None) -> ErasurePlan:
    """What erasing `subject` removes now (and the files at `media_version`, on a re-run)."""
    bots = tuple(
        sorted({*subject_bots(root, subject), *([subject.bot_id] if subject.bot_id else [])})
    )
    media = open_table("media", root)
    erased = _erased(root, subject, bots)
    return ErasurePlan(
        subject=subject,
        bot_ids=bots,
        rows=count_rows(root, subject, bots),
        files=tuple(sorted(files_at(root, subject, bots, media_version))),
        media_version=media_version
        if media_version is not None
        else (media.version() if media else None),
        erased=erased,
        exports=tuple(_export_targets(root, subject, bots, erased)),
    )


def format_plan(plan: ErasurePlan, *, names: bool = True) -> str:
    """The dry run's listing: files, rows per table, export folders and entries.

    `names=False` leaves out what names the person (their key, the files' URIs, built from
    display names): for listings kept elsewhere, such as a Prefect artifact.
    """
    s = plan.subject
    who = f"bot {s.bot_id}"
    if s.participant_key is not None:
        where = f"of bot {s.bot_id}" if s.bot_id else "in every meeting"
        person = (
            repr(s.participant_key)
            if names
            else f"sha256:{participant_digest(s.participant_key)[:12]}"
        )
        who = f"participant {person} {where}"
    lines = [f"erasure of {who}: {len(plan.bot_ids)} meeting(s) {', '.join(plan.bot_ids)}"]
    lines.append(f"files ({len(plan.files)}){':' if names else ''}")
    lines += [f"  {uri}" for uri in plan.files if names]
    lines.append("rows:")
    lines += [f"  {table}: {n}" for table, n in plan.rows.items()]
    if s.kind != "bot":
        lines.append(f"  bots: {len(plan.bot_ids)} row(s) rewritten without them (counts)")
    lines.append(f"export folders ({len(plan.exports)}):")
    for t in plan.exports:
        what = "cannot be reached" if t.entries is None else f"{t.entries} entries"
        lines.append(
            f"  {t.record.location} ({t.record.format}, {t.record.exported_at:%Y-%m-%d}): {what}"
        )
    if s.kind == "bot":
        lines.append("MeetStream: the bot's data is deleted there too")
    return "\n".join(lines) + "\n"
