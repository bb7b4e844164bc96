"""What a recording contains: per-participant audio streams, webcam and screen-share segments.

:func:`plan_media` turns a meeting script and the recorded length into streams and
segments (recording seconds, offset 0 = recording start).

Trap guarded against: the platform rules that make per-participant media surprising live
here and nowhere else: only the first 16 speakers (by first speech) get audio streams;
at most 6 webcams are captured at once and extra cameras queue for a free slot, which
yields later (or extra) segments; screen shares are always captured. (Teams having no
per-participant audio is decided where the manifest is answered.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from meetstream_catalog.simulator.scenario import MeetingScript, Window

MAX_AUDIO_SPEAKERS = 16
MAX_CONCURRENT_WEBCAMS = 6


@dataclass(frozen=True)
class Segment:
    index: int
    start: float  # recording seconds
    end: float


@dataclass(frozen=True)
class Stream:
    """One per-participant stream: audio (one timeline-aligned segment) or video."""

    participant: int  # index in the script
    name: str
    stream_id: str
    kind: str  # "audio" | "webcam" | "screenshare"
    segments: tuple[Segment, ...]
    talk_seconds: float = 0.0


@dataclass(frozen=True)
class MediaPlan:
    recording_length: float
    audio: tuple[Stream, ...]
    webcams: tuple[Stream, ...]
    screenshares: tuple[Stream, ...]
    speaker_cap_reached: bool
    camera_cap_reached: bool


def stream_id(link: str, index: int, name: str, suffix: str = "") -> str:
    """``JohnDoe_1a2b3c``: readable, and unique even when display names collide."""
    compact = re.sub(r"[^A-Za-z0-9]", "", name)[:32] or "participant"
    digest = hashlib.sha256(f"{link}|{index}".encode()).hexdigest()[:6]
    return f"{compact}_{digest}{suffix}"


def clip(windows: tuple[Window, ...], length: float) -> list[Window]:
    """Clip to [0, length] and merge overlaps, so a sloppy script cannot double-count."""
    out: list[Window] = []
    for start, end in sorted(windows):
        s, e = max(0.0, start), min(end, length)
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def camera_segments(cams: list[list[Window]], length: float) -> dict[int, list[Window]]:
    """Sweep camera on/off events with a 6-slot limit; queued cameras start when a slot frees."""
    # "off" (0) sorts before "on" (1) at the same instant, so a freed slot is reused at once.
    events = sorted(
        [(s, 1, p) for p, ws in enumerate(cams) for s, _ in ws]
        + [(e, 0, p) for p, ws in enumerate(cams) for _, e in ws]
    )
    active: dict[int, float] = {}
    queue: list[int] = []
    out: dict[int, list[Window]] = {p: [] for p in range(len(cams))}
    for t, on, p in events:
        if on:
            if len(active) < MAX_CONCURRENT_WEBCAMS:
                active[p] = t
            else:
                queue.append(p)
            continue
        if p in active:
            out[p].append((active.pop(p), t))
        elif p in queue:
            queue.remove(p)
        while queue and len(active) < MAX_CONCURRENT_WEBCAMS:
            active[queue.pop(0)] = t
    for p, start in active.items():
        out[p].append((start, length))
    return {p: [(s, e) for s, e in ws if e > s] for p, ws in out.items()}


def plan_media(script: MeetingScript, link: str, length: float) -> MediaPlan:
    """Which streams and segments a recording of ``length`` seconds yields."""
    people = script.participants
    speech = [clip(p.speech, length) for p in people]
    speakers = sorted((ws[0][0], i) for i, ws in enumerate(speech) if ws)
    audio = tuple(
        Stream(
            i,
            people[i].name,
            stream_id(link, i, people[i].name),
            "audio",
            (Segment(0, 0.0, length),),
            sum(e - s for s, e in speech[i]),
        )
        for _, i in speakers[:MAX_AUDIO_SPEAKERS]
    )
    cams = [clip(p.camera, length) for p in people]
    captured = camera_segments(cams, length)

    def video(i: int, kind: str, ws: list[Window], suffix: str) -> Stream:
        segs = tuple(Segment(n, s, e) for n, (s, e) in enumerate(ws))
        return Stream(i, people[i].name, stream_id(link, i, people[i].name, suffix), kind, segs)

    webcams = tuple(video(i, "webcam", ws, "") for i, ws in captured.items() if ws)
    shares = tuple(
        video(i, "screenshare", ws, "_screen")
        for i, p in enumerate(people)
        if (ws := clip(p.screen_share, length))
    )
    wanted = [sum(e - s for s, e in ws) for ws in cams]
    got = [sum(e - s for s, e in captured[i]) for i in range(len(cams))]
    cam_cap = any(g < w for g, w in zip(got, wanted, strict=True))
    return MediaPlan(length, audio, webcams, shares, len(speakers) > MAX_AUDIO_SPEAKERS, cam_cap)


def active_speakers(script: MeetingScript, t: float) -> tuple[int, ...]:
    """Indices of participants speaking at recording second ``t`` (the Meet mix)."""
    return tuple(
        i for i, p in enumerate(script.participants) if any(s <= t < e for s, e in p.speech)
    )
