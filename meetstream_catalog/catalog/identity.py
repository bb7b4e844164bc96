"""Who is who: tell namesakes apart with device evidence instead of display names.

MeetStream's manifests carry only display names and stream ids. Two people called "Alex
Kim" give two audio entries and two webcams of one name, which the name join must leave
`ambiguous`. `get_participants` lists one entry per device with its `streamIds`, and the
speaker timeline says how long each device spoke. This module uses that evidence:

- `device`: a manifest entry one of whose stream ids is listed by exactly one device of
  that name belongs to that device;
- `timeline`: an audio entry no device lists belongs to the one device of that name whose
  timeline talk time equals the entry's `duration_seconds` (talk time, per the contract)
  within max(1 s, 2 %), when no other device of that name is that close.

The trap guarded against is the false merge. Evidence decides all the entries of a name or
none: every audio, webcam and screen-share entry of the name must be claimed by exactly one
device, and no device may claim two audio or two webcam entries; otherwise the whole name
stays `ambiguous`, as before. A false split is recoverable downstream, a false merge is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from meetstream_catalog.meetstream.models import MeetingParticipant, ParticipantStreams

Method = Literal["device", "timeline"]
Side = Literal["audio", "webcam", "screen"]


@dataclass
class Person:
    """The entries of one device, and how they were tied to it."""

    device_id: str
    method: Method = "device"
    audio: ParticipantStreams | None = None
    webcam: ParticipantStreams | None = None
    screens: list[ParticipantStreams] = field(default_factory=list)


def stream_ids(entry: ParticipantStreams) -> set[str]:
    return {s.stream_id for s in entry.streams if s.stream_id is not None}


def talk_seconds(entry: ParticipantStreams) -> float | None:
    """Summed `duration_seconds` of an audio entry (MeetStream's talk time), None if unknown."""
    known = [g.duration_seconds for s in entry.streams for g in s.segments]
    values = [v for v in known if v is not None]
    return sum(values) if values else None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= max(1.0, 0.02 * max(a, b))


def _claim(
    side: Side,
    entry: ParticipantStreams,
    devices: Sequence[MeetingParticipant],
    talk: Mapping[str, float],
) -> tuple[str, Method] | None:
    ids = stream_ids(entry)
    listed = [d for d in devices if ids.intersection(d.stream_ids)]
    if listed:
        return (str(listed[0].device_id), "device") if len(listed) == 1 else None
    seconds = talk_seconds(entry) if side == "audio" else None
    if seconds is None:
        return None
    close = [d for d in devices if d.device_id in talk and _close(talk[str(d.device_id)], seconds)]
    return (str(close[0].device_id), "timeline") if len(close) == 1 else None


def resolve_namesakes(
    entries: Sequence[tuple[Side, ParticipantStreams]],
    devices: Sequence[MeetingParticipant],
    talk_by_device: Mapping[str, float],
) -> list[Person] | None:
    """The people behind the entries of one ambiguous name, or None if not decisive.

    `devices` are the attendees of that name (with a device id); `talk_by_device` is the
    timeline's talk seconds per device id. People come in the order of their first entry.
    """
    if len(devices) < 2:
        return None  # one device cannot be two namesakes; several entries stay ambiguous
    people: dict[str, Person] = {}
    for side, entry in entries:
        claim = _claim(side, entry, devices, talk_by_device)
        if claim is None:
            return None
        device_id, method = claim
        person = people.setdefault(device_id, Person(device_id))
        if method == "timeline":
            person.method = "timeline"
        if side == "screen":
            person.screens.append(entry)
        elif getattr(person, side) is not None:
            return None  # one device, two audio (or webcam) entries: not decisive
        else:
            setattr(person, side, entry)
    return list(people.values())
