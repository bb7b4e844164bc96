"""The `utterances` and `words` tables: a transcript joined to the people of the meeting.

Responsibility: decide who said each utterance, and make its rows. The evidence, strongest
first (`attribution`):

1. `track`: the speech turns of a participant who has their own audio file overlap most
   of the utterance (that file carries their voice at those times);
2. `timeline`: the same, for a speaker with no file of their own (Teams, past the
   16-stream cap): the platform's speaker timeline alone;
3. `provider`: no turn decides, and the provider's label names exactly one participant;
4. `none`: nobody can be named.

Traps guarded against:
- trusting the provider's label: diarization on mixed audio confuses voices (Teams is the
  most reported case), so the label is kept (`provider_speaker`) and a disagreement with
  the turns is a column (`speaker_disagrees`), never hidden and never the decider while a
  turn decides;
- namesakes: two people called "Alex Kim" are two speakers, told apart by their devices
  (turns carry the device); a label that names a shared name decides nothing;
- overlapping speech: an utterance two people both cover equally goes to no one by
  turns (the label may still decide);
- text is data from outside: a URL in it is replaced (`<url>`), so nothing that looks
  like a presigned URL or a passcode reaches the catalog.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from meetstream_catalog.catalog.names import normalize_name
from meetstream_catalog.meetstream.transcripts import Transcript
from meetstream_catalog.redaction import redact

Attribution = Literal["track", "timeline", "provider", "none"]
# An utterance belongs to a speaker whose turns cover more than this share of it.
MIN_COVER = 0.5


@dataclass(frozen=True)
class Speaker:
    """One person of the meeting as the catalog knows them (a `participants` row)."""

    key: str
    name: str | None
    device_id: str | None = None
    audio_stream_id: str | None = None
    ambiguous: bool = False


@dataclass(frozen=True)
class Spoken:
    """One speaking turn (a `speech` row), seconds from the recording start."""

    start: float
    end: float
    key: str | None
    name: str | None
    device_id: str | None
    audio_stream_id: str | None


class UtteranceRow(BaseModel):
    """One row of the `utterances` table (see docs/catalog.md)."""

    model_config = ConfigDict(frozen=True)

    bot_id: str
    utterance_index: int
    participant_key: str | None
    participant_name: str | None
    device_id: str | None
    audio_stream_id: str | None
    start_seconds: float | None
    end_seconds: float | None
    text: str
    confidence: float | None
    words: int
    provider: str | None
    transcript_id: str | None
    attribution: Attribution
    cover: float | None
    provider_speaker: str | None
    speaker_disagrees: bool | None


class WordRow(BaseModel):
    """One row of the `words` table: a word with its own times."""

    model_config = ConfigDict(frozen=True)

    bot_id: str
    utterance_index: int
    word_index: int
    word: str
    start_seconds: float
    end_seconds: float
    confidence: float | None
    participant_key: str | None
    device_id: str | None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def speakers_from(rows: Iterable[Mapping[str, object]]) -> list[Speaker]:
    """`Speaker`s from `participants` rows (ParticipantRow dumps or catalog rows)."""
    return [
        Speaker(
            key=str(r.get("participant_key") or ""),
            name=_text(r.get("participant_name")),
            device_id=_text(r.get("device_id")),
            audio_stream_id=_text(r.get("audio_stream_id")),
            ambiguous=r.get("match") == "ambiguous",
        )
        for r in rows
    ]


def turns_from(rows: Iterable[Mapping[str, object]]) -> list[Spoken]:
    """`Spoken` turns from `speech` rows (SpeechRow dumps or catalog rows)."""
    turns = []
    for r in rows:
        start, end = r.get("start_seconds"), r.get("end_seconds")
        if isinstance(start, int | float) and isinstance(end, int | float) and end > start:
            turns.append(
                Spoken(
                    float(start),
                    float(end),
                    _text(r.get("participant_key")),
                    _text(r.get("participant_name")),
                    _text(r.get("device_id")),
                    _text(r.get("audio_stream_id")),
                )
            )
    return turns


def _who(turn: Spoken) -> str:
    return f"device:{turn.device_id}" if turn.device_id else f"name:{turn.key or ''}"


def _by_turns(start: float, end: float, turns: Sequence[Spoken]) -> tuple[Spoken, float] | None:
    """The one speaker whose turns cover most of [start, end], if they cover > MIN_COVER
    of it and more than anyone else; with the share they cover."""
    cover: dict[str, float] = defaultdict(float)
    first: dict[str, Spoken] = {}
    for t in turns:
        overlap = min(end, t.end) - max(start, t.start)
        if overlap > 0:
            cover[_who(t)] += overlap
            first.setdefault(_who(t), t)
    if not cover:
        return None
    ranked = sorted(cover.items(), key=lambda kv: kv[1], reverse=True)
    (best, seconds), runner_up = ranked[0], ranked[1][1] if len(ranked) > 1 else 0.0
    share = seconds / max(end - start, 1e-9)
    if share <= MIN_COVER or seconds - runner_up < 1e-6:
        return None
    return first[best], min(share, 1.0)


def attribute(
    bot_id: str,
    transcript: Transcript,
    *,
    speakers: Sequence[Speaker],
    turns: Sequence[Spoken],
    provider: str | None,
    transcript_id: str | None,
) -> tuple[list[UtteranceRow], list[WordRow]]:
    """One `UtteranceRow` per segment (in start order) and one `WordRow` per timed word."""
    track_of = {s.device_id: s.audio_stream_id for s in speakers if s.device_id}
    by_key: dict[str, list[Speaker]] = defaultdict(list)
    for s in speakers:
        if s.key:
            by_key[s.key].append(s)
    known_keys = set(by_key) | {t.key for t in turns if t.key}
    segments = sorted(
        transcript.segments, key=lambda s: (s.start_time is None, s.start_time or 0.0)
    )
    utterances: list[UtteranceRow] = []
    words: list[WordRow] = []
    for n, seg in enumerate(segments):
        label = _text(redact(seg.speaker, drop_urls=True)) if seg.speaker else None
        label_key = normalize_name(label) if label else None
        who: tuple[str | None, str | None, str | None, str | None] = (None, None, None, None)
        attribution: Attribution = "none"
        cover = None
        decided = None
        if seg.start_time is not None and seg.end_time is not None:
            decided = _by_turns(seg.start_time, seg.end_time, turns)
        if decided is not None:
            turn, cover = decided
            stream = turn.audio_stream_id or track_of.get(turn.device_id or "")
            who = (turn.key, turn.name, turn.device_id, stream)
            attribution = "track" if stream else "timeline"
        elif label_key and len(named := by_key.get(label_key, [])) == 1 and not named[0].ambiguous:
            s = named[0]
            who, attribution = (s.key, s.name, s.device_id, s.audio_stream_id), "provider"
        disagrees = None
        if attribution in ("track", "timeline") and label_key in known_keys:
            disagrees = label_key != who[0]
        utterances.append(
            UtteranceRow(
                bot_id=bot_id,
                utterance_index=n,
                participant_key=who[0],
                participant_name=who[1],
                device_id=who[2],
                audio_stream_id=who[3],
                start_seconds=seg.start_time,
                end_seconds=seg.end_time,
                text=redact(seg.transcript, drop_urls=True),
                confidence=seg.mean_confidence(),
                words=len(seg.words),
                provider=provider,
                transcript_id=transcript_id,
                attribution=attribution,
                cover=round(cover, 6) if cover is not None else None,
                provider_speaker=label,
                speaker_disagrees=disagrees,
            )
        )
        timed = [w for w in seg.words if w.start is not None and w.end is not None]
        for k, w in enumerate(timed):  # a word without times is in the text, not in `words`
            if w.start is None or w.end is None:  # narrowed for the type checker
                continue
            words.append(
                WordRow(
                    bot_id=bot_id,
                    utterance_index=n,
                    word_index=k,
                    word=redact(w.text, drop_urls=True),
                    start_seconds=w.start,
                    end_seconds=w.end,
                    confidence=w.confidence,
                    participant_key=who[0],
                    device_id=who[2],
                )
            )
    return utterances, words


def attribution_counts(rows: Sequence[UtteranceRow]) -> dict[str, int]:
    """Utterances per attribution method, every method listed (for summaries)."""
    counts = dict.fromkeys(("track", "timeline", "provider", "none"), 0)
    for r in rows:
        counts[r.attribution] += 1
    return counts
