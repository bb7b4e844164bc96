"""The meeting clock, each bot's status timeline, and the bot record itself.

Everything here is a pure function of (script, request options, meeting time), so a bot's
state is *computed* from the clock rather than mutated by background jobs: advancing the
clock by an hour in one call is as correct as waiting an hour.

Trap guarded against: status and webhook order must agree. Both come from one
:class:`Timeline`, including after ``remove_bot`` moves the exit earlier, so a client never
sees ``bot.stopped`` while ``/status`` still says ``Recording``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meetstream_catalog.simulator.plan import MediaPlan, plan_media
from meetstream_catalog.simulator.scenario import MeetingScript

TERMINAL = ("Stopped", "NotAllowed", "Denied", "Error")


class SimClock:
    """Meeting clock: ``speed`` meeting seconds per real second, plus manual advances.

    ``speed=0`` freezes it so only :meth:`advance` moves time (the tests' manual mode).
    """

    def __init__(self, speed: float, source: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self._source = source
        self._start = source()
        self._offset = 0.0
        self._lock = threading.Lock()  # the admin endpoint and a test thread may race

    def now(self) -> float:
        with self._lock:
            return self._offset + self.speed * (self._source() - self._start)

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._start, self._offset = self._source(), 0.0


@dataclass(frozen=True)
class Event:
    """A lifecycle/processing event at ``at`` meeting seconds after the bot was created."""

    at: float
    event: str
    bot_status: str
    message: str
    bot_event: str | None = None
    status_code: int = 200
    extra: dict[str, object] = field(default_factory=dict)
    run: str | None = None  # the transcript id of a /transcribe run's event
    url: str | None = None  # where that run's event goes (its request's callback_url)

    @property
    def key(self) -> str:
        """Sent once per key: a bot may finish several transcription runs."""
        return f"{self.event}:{self.run}" if self.run else self.event


@dataclass(frozen=True)
class Timeline:
    """Statuses and processing milestones of one bot, in bot-relative meeting seconds."""

    transitions: tuple[tuple[float, str], ...]
    events: tuple[Event, ...]
    recording_start: float | None
    recording_length: float  # 0 when nothing was recorded (NotAllowed, Denied, early removal)
    stopped_at: float
    audio_ready: float | None
    video_ready: float | None
    transcript_ready: float | None = None  # the creation-time run ends (processed or failed)

    def status_at(self, t: float) -> str:
        if t < 0:  # created ahead of its join time (a calendar's scheduled bot)
            return "Scheduled"
        current = self.transitions[0][1]
        for at, status in self.transitions:
            if at <= t:
                current = status
        return current


def build_timeline(
    script: MeetingScript,
    *,
    waiting_room_timeout: float,
    in_call_limit: float,
    removed_at: float | None,
    has_transcript: bool,
) -> Timeline:
    """Lay out the bot's life: Joining -> (InWaitingRoom) -> ... -> Done."""
    ev: list[Event] = [Event(0.0, "bot.joining", "Joining", "Bot is joining the meeting")]
    trans: list[tuple[float, str]] = [(0.0, "Joining")]
    t = script.join_delay
    failed_entry: tuple[str, str, str] | None = None
    if script.outcome == "not_allowed" or script.waiting_room >= waiting_room_timeout:
        failed_entry = ("NotAllowed", "bot.notallowed", "Nobody admitted the bot in time")
        wait = waiting_room_timeout
    elif script.outcome == "denied":
        failed_entry = ("Denied", "bot.denied", "The host denied the bot entry")
        wait = max(script.waiting_room, 1.0)
    else:
        wait = script.waiting_room
    if wait > 0:
        trans.append((t, "InWaitingRoom"))
        ev.append(Event(t, "bot.in_waiting_room", "InWaitingRoom", "Bot is in the waiting room"))
    rec_start: float | None = None
    rec_len = 0.0
    if removed_at is not None and removed_at < t + wait:
        # Removed before admission: leave at once, nothing was recorded, and no later
        # pre-admission step (e.g. the waiting room) happens any more.
        trans = [x for x in trans if x[0] < removed_at or x[0] == 0.0]
        ev = [e for e in ev if e.at < removed_at or e.at == 0.0]
        leave, stop = removed_at, removed_at + 1.0
        final = ("Stopped", "bot.stopped", "Removed via API", 200)
    elif failed_entry is not None:
        leave = stop = t + wait
        final = (*failed_entry, 500)
    else:
        t += wait
        trans.append((t, "InMeeting"))
        ev.append(Event(t, "bot.inmeeting", "InMeeting", "Bot joined the meeting"))
        rec_start = t + 2.0
        trans.append((rec_start, "Recording"))
        ev.append(Event(rec_start, "bot.recording", "Recording", "Bot started recording"))
        rec_len = min(script.duration, in_call_limit)
        final = ("Stopped", "bot.stopped", "Meeting ended", 200)
        if script.outcome == "error":
            rec_len = min(rec_len, script.error_at if script.error_at is not None else rec_len / 2)
            final = ("Error", "bot.failed", "The bot session crashed", 500)
        if removed_at is not None and removed_at < rec_start + rec_len:
            rec_len = max(0.0, removed_at - rec_start)
            final = ("Stopped", "bot.stopped", "Removed via API", 200)
        leave = rec_start + rec_len
        stop = leave + 2.0
    if final[0] in ("Stopped", "Error") and leave < stop:
        trans.append((leave, "Leaving"))
        ev.append(Event(leave, "bot.leaving", "Leaving", "Bot is leaving the meeting"))
    status, bot_event, message, code = final
    trans.append((stop, status))
    ev.append(Event(stop, "bot.stopped", status, message, bot_event, code))
    audio_ready = video_ready = transcript_ready = None
    done = stop + 2.0
    if rec_len > 0:
        audio_ready, video_ready = stop + script.audio_delay, stop + script.video_delay
        ev.append(
            Event(
                stop + min(1.0, script.audio_delay / 2),
                "manifest.completed",
                status,
                "Manifest completed",
                extra={"manifest_status": "Success"},
            )
        )
        ev.append(
            Event(
                audio_ready,
                "audio.processed",
                status,
                "Audio processed",
                extra={"audio_status": "Success"},
            )
        )
        if has_transcript and script.transcript.outcome != "stuck":
            transcript_ready = audio_ready + min(5.0, (video_ready - audio_ready) / 2)
            ev.append(transcription_event(transcript_ready, status, script.transcript.outcome))
        ev.append(
            Event(
                video_ready,
                "video.processed",
                status,
                "Video processed",
                extra={"video_status": "Success"},
            )
        )
        done = video_ready + 2.0
    trans.append((done, "Done"))
    ev.append(Event(done, "bot.done", "Done", "Processing complete", "bot.done", code))
    return Timeline(
        tuple(trans),
        tuple(ev),
        rec_start,
        rec_len,
        stop,
        audio_ready,
        video_ready,
        transcript_ready,
    )


def transcription_event(
    at: float, status: str, outcome: str, *, run: str | None = None, url: str | None = None
) -> Event:
    """`transcription.processed` (200) or `transcription.failed` (500, `status: error`)."""
    if outcome == "failed":
        extra: dict[str, object] = {"transcript_status": "Failed", "status": "error"}
        return Event(
            at, "transcription.failed", status, "Transcription failed", None, 500, extra, run, url
        )
    extra = {"transcript_status": "Success"}
    return Event(
        at, "transcription.processed", status, "Transcript ready", None, 200, extra, run, url
    )


@dataclass(frozen=True)
class TranscriptRun:
    """One `POST /bots/{id}/transcribe` run, in bot-relative meeting seconds."""

    transcript_id: str
    provider: str
    config: dict[str, Any]
    requested_at: float
    ready_at: float
    outcome: str = "processed"
    callback_url: str | None = None


@dataclass
class Bot:
    """One bot: its request, its script and the moment it was created on the clock."""

    bot_id: str
    link: str
    bot_name: str
    script: MeetingScript
    created_at: float
    request: dict[str, Any]
    transcript_id: str | None
    audio_separate: bool
    video_separate: bool
    video_required: bool
    waiting_room_timeout: float = 600.0
    in_call_limit: float = 14400.0
    removed_at: float | None = None
    sent_events: set[str] = field(default_factory=set)
    deleted: Event | None = None  # the `data_deletion` event, once DELETE .../delete ran
    runs: list[TranscriptRun] = field(default_factory=list)  # POST /transcribe, in order

    def events(self) -> tuple[Event, ...]:
        """Every webhook event of this bot: its timeline's, its /transcribe runs' (each
        to its own callback_url), then a data deletion."""
        events = self.timeline().events
        status = self.timeline().status_at(float("inf"))
        runs = tuple(
            transcription_event(
                r.ready_at, status, r.outcome, run=r.transcript_id, url=r.callback_url
            )
            for r in self.runs
        )
        return (*events, *runs, *((self.deleted,) if self.deleted is not None else ()))

    @property
    def latest_transcript_id(self) -> str | None:
        """What `detail` reports: a /transcribe run replaces the creation-time id."""
        return self.runs[-1].transcript_id if self.runs else self.transcript_id

    @property
    def callback_url(self) -> str | None:
        url = self.request.get("callback_url")
        return url if isinstance(url, str) and url else None

    @property
    def custom_attributes(self) -> dict[str, Any]:
        attrs = self.request.get("custom_attributes")
        return attrs if isinstance(attrs, dict) else {}

    def timeline(self) -> Timeline:
        return build_timeline(
            self.script,
            waiting_room_timeout=self.waiting_room_timeout,
            in_call_limit=self.in_call_limit,
            removed_at=self.removed_at,
            has_transcript=self.transcript_id is not None,
        )

    def plan(self) -> MediaPlan:
        return plan_media(self.script, self.link, self.timeline().recording_length)
