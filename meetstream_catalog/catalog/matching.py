"""Which manifest entries are one person: the name matching behind the `participants` join.

Responsibility: group a bot's audio entries, webcams and screen shares (and the attendees
of `get_participants` that left no media) into `Draft`s, one per person as far as the
evidence goes, each with how it was matched (`match`, `method`) and the device it belongs
to. `join.join_participants` turns the drafts into rows. Plain Python.

The trap this guards against: MeetStream has no participant id, only display names, and two
people may share one. Joining on the name would silently merge them, so a normalized name that
occurs more than once in any one list (audio, webcams, screen shares) is `ambiguous`: every
entry of that name becomes its own draft and nothing is cross-joined, unless device evidence
(`identity.resolve_namesakes`) decides every entry of the name. A false split (two rows for
one person) is recoverable downstream; a false merge is not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from meetstream_catalog.catalog.identity import Side, resolve_namesakes, stream_ids
from meetstream_catalog.catalog.names import normalize_name
from meetstream_catalog.meetstream.models import MeetingParticipant, ParticipantStreams

__all__ = ["Draft", "Match", "MatchMethod", "match_entries"]

Match = Literal["both", "audio_only", "video_only", "ambiguous", "no_media"]
# How a row's entries were tied together: by unique name, by a device's stream ids, by the
# speaker timeline's talk time (meetstream_catalog.catalog.identity), or not at all (`ambiguous`).
MatchMethod = Literal["name", "device", "timeline", "ambiguous"]


@dataclass
class Draft:
    """One person's entries as far as the evidence goes: a `participants` row being
    assembled (entries of one side are merged into it)."""

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
) -> dict[int, Draft]:
    """`{id(entry): draft}` for the entries of ambiguous names that device evidence decides."""
    out: dict[int, Draft] = {}
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
            draft = Draft(key, match, audio=person.audio, webcam=person.webcam)
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
) -> list[Draft]:
    ambiguous = _ambiguous_keys(audio, webcams, screens)
    sides: list[tuple[Side, list[ParticipantStreams]]] = [
        ("audio", audio),
        ("webcam", webcams),
        ("screen", screens),
    ]
    resolved = _resolved(ambiguous, sides, attendees, talk_by_device or {})
    drafts: list[Draft] = []
    joined: dict[str, Draft] = {}
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
            draft = Draft(key, "audio_only" if side == "audio" else "video_only")
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


def _identify(drafts: Sequence[Draft], attendees: Sequence[MeetingParticipant]) -> None:
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


def _absent(attendees: Sequence[MeetingParticipant], drafts: Sequence[Draft]) -> list[Draft]:
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
    absent: dict[str, Draft] = {}
    for person in attendees:
        # An empty (or whitespace-only) name identifies nobody: it never makes a row.
        names = [n for n in (person.display_name, person.full_name) if n and normalize_name(n)]
        keys = [normalize_name(n) for n in names]
        if not names or keys[0] in absent or known.intersection(keys):
            continue
        if ids.intersection(person.stream_ids):
            continue
        absent[keys[0]] = Draft(keys[0], "no_media", name=names[0])
    return list(absent.values())


def match_entries(
    audio: list[ParticipantStreams],
    webcams: list[ParticipantStreams],
    screens: list[ParticipantStreams],
    attendees: Sequence[MeetingParticipant] = (),
    talk_by_device: Mapping[str, float] | None = None,
) -> list[Draft]:
    """One draft per person the entries and attendees show, each with its device id when
    the evidence names one.

    Drafts come in manifest order: audio entries first, then unmatched webcams, then
    unmatched screen shares, then attendees without media in attendee order.
    """
    drafts = _drafts(audio, webcams, screens, attendees, talk_by_device)
    drafts += _absent(attendees, drafts)
    _identify(drafts, attendees)
    return drafts
