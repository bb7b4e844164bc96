"""The markdown summary of what one capture run added to the catalog.

Responsibility: turn the per-meeting result dicts of a capture flow (and, when available,
the catalog rows of those bots) into a Prefect markdown artifact: meetings, participants,
seconds of audio and video, and the problems a data team must know about (failed, denied
or empty captures with their reason, ambiguous names, speaker and camera caps). Plain
Python; the flow calls `acreate_markdown_artifact(markdown=catalog_delta_markdown(...))`.

Traps guarded against: artifacts are shown to everyone with UI access, so no link, storage
URI, key or credential may appear. Meetings are named by platform and meeting id (the last
path segment of the already redacted link), never by URL, and reasons pass through
`meetstream_catalog.redaction.redact`. Participant names are untrusted data: every markdown
metacharacter is backslash-escaped (so `| *x* |` cannot break the table or inject
links/HTML), newlines are flattened and very long names are cut.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from meetstream_catalog.catalog.join import CAMERA_CAP, SPEAKER_CAP
from meetstream_catalog.catalog.read import read_table
from meetstream_catalog.redaction import redact
from meetstream_catalog.request import platform_from_link
from meetstream_catalog.roots import Root

__all__ = ["catalog_delta_markdown", "catalog_rows", "escape_markdown", "meeting_label"]

MAX_NAME = 60  # characters of a participant name or reason shown before cutting it
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:/&='\"$%^@;?])")
_OK_OUTCOMES = {"captured"}


def escape_markdown(text: object, limit: int = MAX_NAME) -> str:
    """`text` as inert markdown: one line, at most `limit` characters, punctuation escaped.

    Escaping every ASCII punctuation character that markdown or autolinkers act on (CommonMark
    allows a backslash before any of them) keeps tables intact and URLs unlinked.
    """
    flat = " ".join(str(text).split())  # newlines would end a table row
    flat = "".join(ch for ch in flat if ch.isprintable())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", flat)


def meeting_label(meeting: str | None, platform: str | None) -> str:
    """`zoom 1000000001`: platform and meeting id, never the link itself."""
    link = meeting or ""
    path = urlsplit(link).path.rstrip("/")
    meeting_id = path.rsplit("/", 1)[-1] if path else ""
    # A failed capture's result has no platform yet: the link's host still tells it.
    platform = platform or (platform_from_link(link) if link else None)
    return " ".join(p for p in (platform or "", meeting_id) if p) or "unknown meeting"


def _reason(text: str) -> str:
    # Exception messages may quote URLs (API endpoints, storage paths): drop them whole.
    return escape_markdown(redact(text, drop_urls=True), 200)


def _number(value: Any) -> float:
    return float(value) if value is not None and not pd.isna(value) else 0.0


def _seconds(value: float) -> str:
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _size(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # unreachable; keeps mypy's return analysis simple


def _rows_of(frame: pd.DataFrame | None, bot_id: str | None) -> pd.DataFrame | None:
    if frame is None or bot_id is None or frame.empty:
        return None if frame is None else frame.iloc[0:0]
    return frame[frame["bot_id"] == bot_id]


def _flag(bots: pd.DataFrame | None, column: str, fallback: bool) -> bool:
    # The catalog row is the source of truth; the result counts are the fallback.
    if bots is not None and not bots.empty and column in bots:
        return bool(bots[column].fillna(False).astype(bool).any())
    return fallback


def _problems(
    result: Mapping[str, Any], bots: pd.DataFrame | None, people: pd.DataFrame | None
) -> list[str]:
    outcome = result.get("outcome")
    found = []
    if outcome not in _OK_OUTCOMES:
        reason = _reason(str(result.get("reason") or "no reason given"))
        found.append(f"**{escape_markdown(outcome or 'unknown')}**: {reason}")
    elif not result.get("media_files"):
        found.append("**no media** archived")
    if _flag(bots, "no_streams", False) and outcome in _OK_OUTCOMES:
        found.append("no audio or video streams")
    audio = int(_number(result.get("audio_participants")))
    if _flag(bots, "speaker_cap_reached", audio >= SPEAKER_CAP):
        capped = 0
        if people is not None and "audio_possibly_capped" in people:
            capped = int(people["audio_possibly_capped"].fillna(False).astype(bool).sum())
        found.append(
            f"**speaker cap** ({SPEAKER_CAP} audio streams) reached: anyone who spoke beyond "
            "it has no audio file (and, without a camera, a `no_media` row only if "
            "get_participants listed them)"
            + (f"; {capped} participant(s) without audio may have spoken" if capped else "")
        )
    if _flag(bots, "camera_cap_reached", _number(result.get("webcam_streams")) >= CAMERA_CAP):
        found.append(f"**camera cap** ({CAMERA_CAP} webcams) reached: cameras may have queued")
    if people is not None and not people.empty:
        ambiguous = people[people["match"] == "ambiguous"]
        for name, rows in ambiguous.groupby("participant_name", sort=True):
            found.append(
                f"**ambiguous name** {escape_markdown(name)} ({len(rows)} rows, not joined)"
            )
    return found


def catalog_delta_markdown(
    results: Sequence[Mapping[str, Any]],
    *,
    bots: pd.DataFrame | None = None,
    participants: pd.DataFrame | None = None,
) -> str:
    """Markdown summarizing one capture run: a table per meeting and a list of problems.

    `results` are the flow's per-meeting dicts (meeting, bot_id, platform, outcome, reason,
    audio_participants, webcam_streams, media_files, media_bytes, ...). `bots` and
    `participants` are the catalog rows of those bots (`catalog_rows`); without them,
    participant counts and seconds show as "?" and caps are derived from the counts.
    """
    lines = [
        "| meeting | bot | outcome | participants | audio | video | files | size |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    problems: list[str] = []
    totals = {"people": 0.0, "audio": 0.0, "video": 0.0, "files": 0.0, "bytes": 0.0}
    outcomes: dict[str, int] = {}
    for result in results:
        bot_id = result.get("bot_id")
        label = escape_markdown(meeting_label(result.get("meeting"), result.get("platform")), 80)
        outcome = str(result.get("outcome") or "unknown")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        bot_rows, people = _rows_of(bots, bot_id), _rows_of(participants, bot_id)
        counts = ["?", "?", "?"]
        if people is not None:
            audio = people["audio_seconds"].map(_number).sum()
            video = (
                people["webcam_seconds"].map(_number).sum()
                + people["screenshare_seconds"].map(_number).sum()
            )
            counts = [str(len(people)), _seconds(audio), _seconds(video)]
            totals["people"] += len(people)
            totals["audio"] += audio
            totals["video"] += video
        files, size = _number(result.get("media_files")), _number(result.get("media_bytes"))
        totals["files"] += files
        totals["bytes"] += size
        bot = escape_markdown(bot_id or "none", 80)
        lines.append(
            f"| {label} | {bot} | {escape_markdown(outcome)} | {' | '.join(counts)} "
            f"| {int(files)} | {_size(size)} |"
        )
        problems += [f"- {label}: {p}" for p in _problems(result, bot_rows, people)]
    known = participants is not None
    summary = ", ".join(f"{n} {escape_markdown(o)}" for o, n in sorted(outcomes.items()))
    head = [
        "## Catalog delta",
        "",
        f"**{len(results)} meeting(s)** ({summary or 'none'}); "
        + (
            f"**{int(totals['people'])} participant row(s)**, "
            f"{_seconds(totals['audio'])} of audio, {_seconds(totals['video'])} of video "
            "(webcam + screen share); "
            if known
            else ""
        )
        + f"{int(totals['files'])} file(s), {_size(totals['bytes'])} archived.",
        "",
    ]
    tail = ["", "### Problems", "", *(problems or ["None."])]
    tail += ["", "_Links, storage URIs and keys are deliberately not shown; query the catalog._"]
    return "\n".join([*head, *lines, *tail]) + "\n"


def catalog_rows(root: Root, bot_ids: Sequence[str | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `bots` and `participants` rows of `bot_ids` (for `catalog_delta_markdown`)."""
    ids = pa.array(sorted({b for b in bot_ids if b}), pa.string())
    # An expression with a typed array: DNF `("bot_id", "in", [])` cannot type an empty list.
    filters = ds.field("bot_id").isin(ids)
    bots = read_table("bots", root, filters=filters)
    people = read_table("participants", root, filters=filters)
    return bots, people
