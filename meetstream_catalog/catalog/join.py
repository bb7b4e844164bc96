"""Join a bot's audio and video manifests into one row per participant.

Responsibility: turn the two manifests plus the archived media of one bot into
`ParticipantRow`s (the `participants` table) and bot-level counts and flags
(`summarize_bot`). Which entries are one person is decided by `matching`; this module
builds each person's row: their audio file, segments and seconds per kind, stream ids, the
platform's audio isolation and the speaker and camera caps. Attendees from
`get_participants` who left no media at all (never spoke, no camera, or spoke beyond the
speaker cap without a camera) get a `no_media` row, so nobody who attended silently
disappears from the table. Plain Python.

Traps guarded against: a file linked to the wrong person (an audio file is linked to an
entry by its stream ids, and by the exact original name only when no other audio entry
carries that name), and counts that disagree with the rows (`summarize_bot` counts by the
same rules). Past the caps MeetStream records no more streams, so a row without audio may
still have spoken (`audio_possibly_capped`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog.matching import Draft, Match, MatchMethod, match_entries
from meetstream_catalog.catalog.names import normalize_platform
from meetstream_catalog.meetstream.models import (
    AudioManifest,
    MeetingParticipant,
    ParticipantStreams,
    VideoManifest,
)

__all__ = [
    "CAMERA_CAP",
    "SPEAKER_CAP",
    "BotSummary",
    "ParticipantRow",
    "camera_cap_reached",
    "join_participants",
    "speaker_cap_reached",
    "summarize_bot",
]

Isolation = Literal["isolated", "active_speaker_mix", "none", "unknown"]

SPEAKER_CAP = 16  # concurrent per-participant audio streams MeetStream records (api §5)
CAMERA_CAP = 6  # concurrent webcam streams MeetStream records (api §6)

_ISOLATION: dict[str, Isolation] = {"zoom": "isolated", "google_meet": "active_speaker_mix"}


class ParticipantRow(BaseModel):
    """One row of the `participants` table (see docs/catalog.md for every column)."""

    model_config = ConfigDict(frozen=True)

    bot_id: str
    participant_key: str
    participant_name: str
    audio_participant_name: str | None = None
    video_participant_name: str | None = None
    match: Match
    audio_storage_uri: str | None = None
    audio_key: str | None = None
    audio_stream_id: str | None = None
    audio_segments: int = 0
    audio_seconds: float | None = None
    webcam_segments: int = 0
    webcam_seconds: float | None = None
    webcam_stream_ids: list[str] = []
    screenshare_segments: int = 0
    screenshare_seconds: float | None = None
    screenshare_stream_ids: list[str] = []
    speaker_cap_reached: bool = False
    camera_cap_reached: bool = False
    audio_possibly_capped: bool = False
    audio_isolation: Isolation = "unknown"
    device_id: str | None = None
    match_method: MatchMethod = "name"
    speech_turns: int | None = None  # from the speaker timeline (None: no timeline)
    talk_seconds: float | None = None


def _entries(manifest: AudioManifest | VideoManifest | None) -> list[ParticipantStreams]:
    return list(manifest.participants) if manifest is not None and manifest.available else []


def _screens(video: VideoManifest | None) -> list[ParticipantStreams]:
    return list(video.screenshares) if video is not None and video.available else []


def _seconds(entries: Sequence[ParticipantStreams]) -> tuple[int, float | None, list[str]]:
    """(segment count, summed duration or None when no duration is known, stream ids)."""
    segments = [seg for e in entries for s in e.streams for seg in s.segments]
    durations = [seg.duration_seconds for seg in segments if seg.duration_seconds is not None]
    ids = [s.stream_id for e in entries for s in e.streams if s.stream_id is not None]
    return len(segments), (sum(durations) if durations else None), ids


def _audio_file(
    entry: ParticipantStreams, media: Sequence[ArchivedMedia], unique_name: bool
) -> ArchivedMedia | None:
    ids = {s.stream_id for s in entry.streams if s.stream_id is not None}
    files = [
        m for m in media if m.kind == "audio" and m.stream_id is not None and m.stream_id in ids
    ]
    if not files and unique_name:
        # Without stream ids only the exact original name links file to entry, and only if
        # no other audio entry carries that same name.
        files = [
            m for m in media if m.kind == "audio" and m.participant_name == entry.participant_name
        ]
    return min(files, key=lambda m: (m.stream_id or "", m.segment_index), default=None)


def _isolation(platform: str | None, has_audio: bool) -> Isolation:
    if not has_audio:
        return "none"
    return _ISOLATION.get(normalize_platform(platform) or "", "unknown")


def speaker_cap_reached(audio: AudioManifest | None) -> bool:
    """True when the audio manifest lists SPEAKER_CAP or more participants."""
    return len(_entries(audio)) >= SPEAKER_CAP


def camera_cap_reached(video: VideoManifest | None) -> bool:
    """True when CAMERA_CAP or more webcam streams exist (an upper bound on concurrency:
    the manifest carries no timing, so sequential cameras count too)."""
    return sum(len(p.streams) for p in _entries(video)) >= CAMERA_CAP


def join_participants(
    bot_id: str,
    audio: AudioManifest | None,
    video: VideoManifest | None,
    media: Sequence[ArchivedMedia],
    *,
    platform: str | None,
    attendees: Sequence[MeetingParticipant] | None = None,
    talk_by_device: Mapping[str, float] | None = None,
) -> list[ParticipantRow]:
    """Full outer join of audio participants, webcams and screen shares on normalized names,
    plus a `no_media` row for each attendee (`get_participants`) none of them accounts for.

    Returns rows in manifest order: audio entries first, then unmatched webcams, then
    unmatched screen shares, then attendees without media in attendee order. `None` or
    `available=False` manifests contribute no entries.
    """
    audio_entries, webcams, screens = _entries(audio), _entries(video), _screens(video)
    speaker_cap, camera_cap = speaker_cap_reached(audio), camera_cap_reached(video)
    name_counts = Counter(p.participant_name for p in audio_entries)
    flags = (speaker_cap, camera_cap)
    drafts = match_entries(audio_entries, webcams, screens, attendees or (), talk_by_device)
    return [_row(bot_id, d, media, name_counts, flags, platform) for d in drafts]


def _row(
    bot_id: str,
    d: Draft,
    media: Sequence[ArchivedMedia],
    audio_name_counts: Counter[str],
    caps: tuple[bool, bool],
    platform: str | None,
) -> ParticipantRow:
    a_n, a_s, a_ids = _seconds([d.audio] if d.audio else [])
    w_n, w_s, w_ids = _seconds([d.webcam] if d.webcam else [])
    s_n, s_s, s_ids = _seconds(d.screens)
    file = None
    if d.audio is not None:
        file = _audio_file(d.audio, media, audio_name_counts[d.audio.participant_name] == 1)
    video = d.webcam or (d.screens[0] if d.screens else None)
    audio_name = d.audio.participant_name if d.audio else None
    video_name = video.participant_name if video else None
    return ParticipantRow(
        bot_id=bot_id,
        participant_key=d.key,
        participant_name=audio_name if audio_name is not None else video_name or d.name or "",
        audio_participant_name=audio_name,
        video_participant_name=video_name,
        match=d.match,
        audio_storage_uri=file.storage_uri if file else None,
        audio_key=file.key if file else None,
        audio_stream_id=file.stream_id if file else (a_ids[0] if a_ids else None),
        audio_segments=a_n,
        audio_seconds=a_s,
        webcam_segments=w_n,
        webcam_seconds=w_s,
        webcam_stream_ids=w_ids,
        screenshare_segments=s_n,
        screenshare_seconds=s_s,
        screenshare_stream_ids=s_ids,
        speaker_cap_reached=caps[0],
        camera_cap_reached=caps[1],
        audio_possibly_capped=caps[0] and d.audio is None,
        audio_isolation=_isolation(platform, d.audio is not None),
        device_id=d.device_id,
        match_method=d.method,
    )


class BotSummary(BaseModel):
    """Bot-level counts and flags for the `bots` table; `BotRecord(**summary.model_dump())`."""

    audio_streams_available: bool | None
    video_streams_available: bool | None
    audio_participants: int
    webcam_streams: int
    screenshare_streams: int
    media_files: int
    media_bytes: int
    speaker_cap_reached: bool
    camera_cap_reached: bool
    no_streams: bool


def summarize_bot(
    audio: AudioManifest | None, video: VideoManifest | None, media: Sequence[ArchivedMedia]
) -> BotSummary:
    """Counts and flags of one bot, computed by the same rules as the participant rows."""
    audio_entries, webcams, screens = _entries(audio), _entries(video), _screens(video)
    return BotSummary(
        audio_streams_available=audio.available if audio is not None else None,
        video_streams_available=video.available if video is not None else None,
        audio_participants=len(audio_entries),
        webcam_streams=sum(len(p.streams) for p in webcams),
        screenshare_streams=sum(len(p.streams) for p in screens),
        media_files=len(media),
        media_bytes=sum(m.bytes for m in media),
        speaker_cap_reached=speaker_cap_reached(audio),
        camera_cap_reached=camera_cap_reached(video),
        no_streams=not any(s.streams for s in (*audio_entries, *webcams, *screens)),
    )
