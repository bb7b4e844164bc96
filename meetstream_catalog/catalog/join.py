"""Join a bot's audio and video manifests into one row per participant.

Responsibility: turn the two manifests plus the archived media of one bot into
`ParticipantRow`s (the `participants` table) and bot-level counts and flags. Plain Python.
Attendees from `get_participants` who left no media at all (never spoke, no camera, or
spoke beyond the speaker cap without a camera) get a `no_media` row, so nobody who attended
silently disappears from the table.

The trap this guards against: MeetStream has no participant id, only display names, and two
people may share one. Joining on the name would silently merge them, so a normalized name that
occurs more than once in any one list (audio, webcams, screen shares) is `ambiguous`: every
entry of that name becomes its own row and nothing is cross-joined. A false split (two rows
for one person) is recoverable downstream; a false merge is not. For the same reason
invisible characters (zero-width spaces, ...) are kept: stripping them could merge two names.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from meetstream_catalog.catalog.identity import Side, resolve_namesakes, stream_ids
from meetstream_catalog.meetstream.models import (
    ArchivedMedia,
    AudioManifest,
    MeetingParticipant,
    ParticipantStreams,
    VideoManifest,
)

Match = Literal["both", "audio_only", "video_only", "ambiguous", "no_media"]
# How a row's entries were tied together: by unique name, by a device's stream ids, by the
# speaker timeline's talk time (meetstream_catalog.catalog.identity), or not at all (`ambiguous`).
MatchMethod = Literal["name", "device", "timeline", "ambiguous"]
Isolation = Literal["isolated", "active_speaker_mix", "none", "unknown"]

SPEAKER_CAP = 16  # concurrent per-participant audio streams MeetStream records (api §5)
CAMERA_CAP = 6  # concurrent webcam streams MeetStream records (api §6)

# str.split() without arguments splits on every Unicode whitespace (NBSP, tabs, newlines,
# U+2028...), which is exactly the set we want to collapse. Zero-width characters are not
# whitespace for Python and are kept on purpose (see module docstring).
_PLATFORM_ALIASES = {
    "zoom": "zoom",
    "googlemeet": "google_meet",
    "meet": "google_meet",
    "teams": "teams",
    "microsoftteams": "teams",
    "msteams": "teams",
}
_ISOLATION: dict[str, Isolation] = {"zoom": "isolated", "google_meet": "active_speaker_mix"}


def normalize_name(name: str) -> str:
    """The join key of a display name: NFC, casefold, whitespace collapsed, stripped."""
    # casefold can produce non-NFC output (e.g. for some Greek/Cherokee letters): NFC again.
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
    return " ".join(folded.split())


def normalize_platform(platform: str | None) -> str | None:
    """'Google Meet', 'google_meet', 'meet' -> 'google_meet'; unknown values pass through."""
    if platform is None:
        return None
    compact = re.sub(r"[\s_\-.]", "", platform.casefold())
    return _PLATFORM_ALIASES.get(compact, platform.strip().casefold() or None)


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


@dataclass
class _Draft:
    """A row being assembled; entries of one side are merged into it."""

    key: str
    match: Match
    name: str | None = None  # an attendee's display name, for rows without any media
    audio: ParticipantStreams | None = None
    webcam: ParticipantStreams | None = None
    screens: list[ParticipantStreams] = field(default_factory=list)
    method: MatchMethod = "name"
    device_id: str | None = None

    def stream_ids(self) -> set[str]:
        entries = [e for e in (self.audio, self.webcam, *self.screens) if e is not None]
        return set().union(*(stream_ids(e) for e in entries))


def _entries(manifest: AudioManifest | VideoManifest | None) -> list[ParticipantStreams]:
    return list(manifest.participants) if manifest is not None and manifest.available else []


def _screens(video: VideoManifest | None) -> list[ParticipantStreams]:
    return list(video.screenshares) if video is not None and video.available else []


def _ambiguous_keys(*sides: list[ParticipantStreams]) -> set[str]:
    keys: set[str] = set()
    for side in sides:
        counts = Counter(normalize_name(p.participant_name) for p in side)
        keys |= {k for k, n in counts.items() if n > 1}
    # An empty (or whitespace-only) name identifies nobody: never join on it.
    keys.add("")
    return keys


def _devices_named(key: str, attendees: Sequence[MeetingParticipant]) -> list[MeetingParticipant]:
    return [
        a
        for a in attendees
        if a.device_id
        and key in {normalize_name(n) for n in (a.display_name, a.full_name) if n is not None}
    ]


def _resolved(
    ambiguous: set[str],
    sides: Sequence[tuple[Side, list[ParticipantStreams]]],
    attendees: Sequence[MeetingParticipant],
    talk_by_device: Mapping[str, float],
) -> dict[int, _Draft]:
    """`{id(entry): draft}` for the entries of ambiguous names that device evidence decides."""
    out: dict[int, _Draft] = {}
    for key in sorted(ambiguous - {""}):
        entries = [
            (side, p) for side, ps in sides for p in ps if normalize_name(p.participant_name) == key
        ]
        people = resolve_namesakes(entries, _devices_named(key, attendees), talk_by_device)
        for person in people or ():
            has_video = person.webcam is not None or bool(person.screens)
            match: Match = (
                "both"
                if person.audio and person.webcam
                else "audio_only"
                if person.audio
                else "video_only"
            )
            if person.audio is None and not has_video:
                continue
            draft = _Draft(key, match, audio=person.audio, webcam=person.webcam)
            draft.screens = list(person.screens)
            draft.method, draft.device_id = person.method, person.device_id
            for entry in (person.audio, person.webcam, *person.screens):
                if entry is not None:
                    out[id(entry)] = draft
    return out


def _drafts(
    audio: list[ParticipantStreams],
    webcams: list[ParticipantStreams],
    screens: list[ParticipantStreams],
    attendees: Sequence[MeetingParticipant] = (),
    talk_by_device: Mapping[str, float] | None = None,
) -> list[_Draft]:
    ambiguous = _ambiguous_keys(audio, webcams, screens)
    sides: list[tuple[Side, list[ParticipantStreams]]] = [
        ("audio", audio),
        ("webcam", webcams),
        ("screen", screens),
    ]
    resolved = _resolved(ambiguous, sides, attendees, talk_by_device or {})
    drafts: list[_Draft] = []
    joined: dict[str, _Draft] = {}
    for side, entries in sides:
        for p in entries:
            person = resolved.get(id(p))
            if person is not None:  # a namesake told apart by device evidence
                if all(d is not person for d in drafts):
                    drafts.append(person)
                continue
            key = normalize_name(p.participant_name)
            if key in joined and side != "audio":
                if side == "webcam":
                    joined[key].webcam = p
                    joined[key].match = "both"
                else:
                    joined[key].screens.append(p)
                continue
            # A presenter with no other row is a video-side participant; an ambiguous
            # presenter gets a row of its own (we cannot tell which namesake shared).
            draft = _Draft(key, "audio_only" if side == "audio" else "video_only")
            if side == "audio":
                draft.audio = p
            elif side == "webcam":
                draft.webcam = p
            else:
                draft.screens = [p]
            if key in ambiguous:
                draft.match, draft.method = "ambiguous", "ambiguous"
            else:
                joined[key] = draft
            drafts.append(draft)
    return drafts


def _identify(drafts: Sequence[_Draft], attendees: Sequence[MeetingParticipant]) -> None:
    """Give each draft without one the device id its stream ids (or unique name) point to."""
    for d in drafts:
        if d.device_id is not None:
            continue
        ids = d.stream_ids()
        listed = {
            str(a.device_id) for a in attendees if a.device_id and ids.intersection(a.stream_ids)
        }
        if not listed and d.match != "ambiguous":
            listed = {str(a.device_id) for a in _devices_named(d.key, attendees)}
        if len(listed) == 1:
            d.device_id = listed.pop()


def _absent(attendees: Sequence[MeetingParticipant], drafts: Sequence[_Draft]) -> list[_Draft]:
    """One `no_media` draft per distinct attendee key that no manifest entry accounts for.

    An attendee is accounted for when its display name, its full name or one of its stream
    ids matches a manifest entry: a `no_media` row must not claim "no media" for someone
    whose media is in another row. Several devices (or namesakes) of one key give one row:
    there is no media to keep apart, and one person on two devices is two entries.
    """
    known = {d.key for d in drafts}
    ids = {
        s.stream_id
        for d in drafts
        for e in (d.audio, d.webcam, *d.screens)
        if e is not None
        for s in e.streams
        if s.stream_id is not None
    }
    absent: dict[str, _Draft] = {}
    for person in attendees:
        # An empty (or whitespace-only) name identifies nobody: it never makes a row.
        names = [n for n in (person.display_name, person.full_name) if n and normalize_name(n)]
        keys = [normalize_name(n) for n in names]
        if not names or keys[0] in absent or known.intersection(keys):
            continue
        if ids.intersection(person.stream_ids):
            continue
        absent[keys[0]] = _Draft(keys[0], "no_media", name=names[0])
    return list(absent.values())


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
    drafts = _drafts(audio_entries, webcams, screens, attendees or (), talk_by_device)
    drafts += _absent(attendees or (), drafts)
    _identify(drafts, attendees or ())
    return [_row(bot_id, d, media, name_counts, flags, platform) for d in drafts]


def _row(
    bot_id: str,
    d: _Draft,
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
