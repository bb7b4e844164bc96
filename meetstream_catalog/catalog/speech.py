"""The `speech` table: one row per speaking turn, from MeetStream's speaker timeline.

Responsibility: merge the timeline's chunks into turns, attribute each turn to a row of
`participants` (by device id, by the device's stream ids, or by a name only one row
carries), and count each row's turns and talk seconds. Plain Python.

Traps guarded against:
- chunks are not turns: MeetStream may cut one turn into fixed-size chunks, so a speaker's
  chunks that touch (gap <= `MERGE_GAP_SECONDS`) form one turn; overlapping speech of two
  people stays two turns (that is what interruptions are made of);
- talk time where per-participant audio is missing (Teams has none, and speakers past the
  16-stream cap have no file): the timeline still says who spoke, so rows get
  `talk_seconds` from it and a turn no row accounts for keeps its speaker's name and device;
- a name shared by two people never attributes a turn to either of them by name.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.names import normalize_name
from meetstream_catalog.meetstream.models import MeetingParticipant
from meetstream_catalog.meetstream.timeline import SpeakerTimeline

MERGE_GAP_SECONDS = 0.25


@dataclass
class Turn:
    """One speaker's continuous speech, in seconds from the recording start."""

    device_id: str | None
    name: str | None
    start: float
    end: float
    started_at: datetime | None
    chunks: int = 1


class SpeechRow(BaseModel):
    """One row of the `speech` table (see docs/catalog.md)."""

    model_config = ConfigDict(frozen=True)

    bot_id: str
    turn_index: int
    participant_name: str | None
    participant_key: str | None
    device_id: str | None
    audio_stream_id: str | None
    start_seconds: float
    end_seconds: float
    duration_seconds: float
    started_at: datetime | None
    chunks: int


def merge_turns(timeline: SpeakerTimeline | None) -> list[Turn]:
    """The timeline's usable chunks as turns, ordered by start (then speaker)."""
    if timeline is None:
        return []
    open_turns: dict[tuple[str | None, str | None], Turn] = {}
    turns: list[Turn] = []
    for c in timeline.usable_chunks():
        who = (c.speaker_id, None if c.speaker_id else c.speaker_name)
        last = open_turns.get(who)
        if last is not None and c.start_seconds - last.end <= MERGE_GAP_SECONDS:
            last.end = max(last.end, c.end_seconds)
            last.chunks += 1
            continue
        turn = Turn(c.speaker_id, c.speaker_name, c.start_seconds, c.end_seconds, c.timestamp)
        open_turns[who] = turn
        turns.append(turn)
    return sorted(turns, key=lambda t: (t.start, t.device_id or "", t.name or ""))


def talk_by_device(turns: Sequence[Turn]) -> dict[str, float]:
    """Seconds spoken per speaker device id."""
    talk: dict[str, float] = defaultdict(float)
    for t in turns:
        if t.device_id:
            talk[t.device_id] += t.end - t.start
    return dict(talk)


def _row_of(
    turn: Turn, rows: Sequence[ParticipantRow], devices: dict[str, MeetingParticipant]
) -> int | None:
    """Index of the participants row this turn belongs to, if the evidence is unique."""
    if turn.device_id:
        same = [i for i, r in enumerate(rows) if r.device_id == turn.device_id]
        if len(same) == 1:
            return same[0]
        device = devices.get(turn.device_id)
        ids = set(device.stream_ids) if device is not None else set()
        listed = [i for i, r in enumerate(rows) if ids.intersection(_ids(r))]
        if len(listed) == 1:
            return listed[0]
    key = normalize_name(turn.name) if turn.name else ""
    named = [i for i, r in enumerate(rows) if key and r.participant_key == key]
    if len(named) == 1 and rows[named[0]].match != "ambiguous":
        return named[0]
    return None


def _ids(row: ParticipantRow) -> set[str]:
    ids = {*row.webcam_stream_ids, *row.screenshare_stream_ids}
    return ids | {row.audio_stream_id} if row.audio_stream_id else ids


def attribute(
    bot_id: str,
    turns: Sequence[Turn],
    rows: Sequence[ParticipantRow],
    attendees: Sequence[MeetingParticipant],
    *,
    timeline_known: bool,
) -> tuple[list[ParticipantRow], list[SpeechRow]]:
    """Rows with `speech_turns`/`talk_seconds` filled in, and one `SpeechRow` per turn.

    Without a timeline (`timeline_known=False`) the rows keep null counts: unknown, not 0.
    """
    devices = {a.device_id: a for a in attendees if a.device_id}
    counts: Counter[int] = Counter()
    talk: dict[int, float] = defaultdict(float)
    speech: list[SpeechRow] = []
    for n, turn in enumerate(turns):
        i = _row_of(turn, rows, devices)
        row = rows[i] if i is not None else None
        if i is not None:
            counts[i] += 1
            talk[i] += turn.end - turn.start
        name = turn.name or (row.participant_name if row else None)
        speech.append(
            SpeechRow(
                bot_id=bot_id,
                turn_index=n,
                participant_name=name,
                participant_key=normalize_name(name) if name else None,
                device_id=turn.device_id or (row.device_id if row else None),
                audio_stream_id=row.audio_stream_id if row else None,
                start_seconds=round(turn.start, 6),
                end_seconds=round(turn.end, 6),
                duration_seconds=round(turn.end - turn.start, 6),
                started_at=turn.started_at,
                chunks=turn.chunks,
            )
        )
    if not timeline_known:
        return list(rows), speech
    updated = [
        r.model_copy(update={"speech_turns": counts[i], "talk_seconds": round(talk[i], 6)})
        for i, r in enumerate(rows)
    ]
    return updated, speech
