"""Scenario files: which meeting link plays which scripted meeting.

A scenario (YAML or JSON) maps meeting links to :class:`MeetingScript` objects; any link
that is not in the scenario gets a deterministic default script derived from a hash of
the link. All times are *meeting seconds* relative to the start of the recording.

Trap guarded against: scenario files are written by hand, so parsing is strict (unknown
keys and malformed windows raise :class:`ScenarioError` naming the meeting and field)
instead of silently producing a meeting nobody asked for. Links are matched after
normalisation (case of scheme/host, trailing slash, fragment, and finally the query string,
so a Zoom link with ``?pwd=...`` still finds its script).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from meetstream_catalog.simulator.faults import FaultError, parse_fault

PLATFORMS = ("zoom", "google_meet", "teams")
OUTCOMES = ("stopped", "not_allowed", "denied", "error")
# What becomes of the transcript asked for at creation: ready, `transcription.failed`, or
# 202 for ever (as a streaming-only provider's).
TRANSCRIPT_OUTCOMES = ("processed", "failed", "stuck")

Window = tuple[float, float]


class ScenarioError(ValueError):
    """A scenario file or meeting script is malformed; the message names the field."""


@dataclass(frozen=True)
class Participant:
    """One person (or device) in a scripted meeting. Display names may repeat."""

    name: str
    speech: tuple[Window, ...] = ()
    camera: tuple[Window, ...] = ()
    screen_share: tuple[Window, ...] = ()


@dataclass(frozen=True)
class TranscriptScript:
    """How the meeting's transcript behaves. ``delay``: seconds from the request (a
    ``/transcribe`` call) to the finished run; the creation-time run is ready a few seconds
    after the audio. ``mislabel_every``: every n-th utterance carries another speaker's
    label (None: 3 on Teams, where providers diarize the mixed audio, else 0)."""

    outcome: str = "processed"
    delay: float = 10.0
    mislabel_every: int | None = None

    def mislabels(self, platform: str) -> int:
        if self.mislabel_every is not None:
            return self.mislabel_every
        return 3 if platform == "teams" else 0


@dataclass(frozen=True)
class MeetingScript:
    """What happens in one meeting, on the meeting clock.

    ``duration`` is the length of the recording if the bot is not removed early;
    ``waiting_room`` is how long the bot waits before being admitted (or refused);
    ``join_delay`` is the time spent in ``Joining``. ``audio_delay`` / ``video_delay`` are
    the post-call processing times after the bot stopped (audio is always ready first).
    """

    platform: str
    duration: float
    participants: tuple[Participant, ...]
    outcome: str = "stopped"
    waiting_room: float = 0.0
    join_delay: float = 5.0
    error_at: float | None = None
    audio_delay: float = 30.0
    video_delay: float = 90.0
    video_shape: str | None = None
    faults: tuple[dict[str, Any], ...] = ()
    transcript: TranscriptScript = field(default_factory=TranscriptScript)


@dataclass(frozen=True)
class AccountBotScript:
    """A bot the account has from the start, created elsewhere (the dashboard, a calendar's
    auto-join, another tool): `started_minutes_ago` meeting minutes into its meeting, or,
    with `scheduled_in_minutes`, scheduled to join that much later."""

    link: str
    bot_name: str = "Calendar Notetaker"
    started_minutes_ago: float = 0.0
    scheduled_in_minutes: float | None = None


@dataclass
class Scenario:
    """Meeting scripts keyed by normalised meeting link, and the account's own bots."""

    meetings: dict[str, MeetingScript] = field(default_factory=dict)
    account_bots: tuple[AccountBotScript, ...] = ()

    def script_for(self, link: str) -> MeetingScript:
        """Return the scripted meeting for ``link`` or the deterministic default."""
        for key in _link_keys(link):
            if key in self.meetings:
                return self.meetings[key]
        return default_script(link)


def platform_from_link(link: str) -> str:
    """zoom.us -> zoom, meet.google.com -> google_meet, teams.* -> teams; else zoom."""
    host = (urlsplit(link).hostname or "").lower()
    if host == "meet.google.com":
        return "google_meet"
    if host in ("teams.microsoft.com", "teams.live.com") or host.endswith(".teams.microsoft.com"):
        return "teams"
    return "zoom"


def _link_keys(link: str) -> list[str]:
    parts = urlsplit(link.strip())
    base = urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
    )
    no_query = urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", "")
    )
    return [base, no_query] if base != no_query else [base]


def _windows(value: Any, where: str) -> tuple[Window, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: expected a list of [start, end] windows")
    out: list[Window] = []
    for item in value:
        if isinstance(item, dict):
            start, end = item.get("start"), item.get("end")
        elif isinstance(item, list | tuple) and len(item) == 2:
            start, end = item
        else:
            raise ScenarioError(f"{where}: window {item!r} is not [start, end]")
        # A missing end means "until the meeting ends"; the recording length clips it.
        end_f = float("inf") if end is None else float(end)
        if not isinstance(start, int | float) or end_f <= float(start):
            raise ScenarioError(f"{where}: window {item!r} needs numeric start < end")
        out.append((float(start), end_f))
    return tuple(sorted(out))


_SCRIPT_KEYS = {
    "platform",
    "duration",
    "participants",
    "outcome",
    "waiting_room",
    "join_delay",
    "error_at",
    "processing",
    "video_shape",
    "faults",
    "transcript",
}
_TRANSCRIPT_KEYS = {"outcome", "delay", "mislabel_every"}
_PARTICIPANT_KEYS = {"name", "speech", "camera", "screen_share"}


def parse_script(link: str, raw: dict[str, Any]) -> MeetingScript:
    """Validate one meeting entry of a scenario file."""
    where = f"meeting {link!r}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    unknown = set(raw) - _SCRIPT_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {sorted(unknown)}")
    platform = str(raw.get("platform") or platform_from_link(link))
    if platform not in PLATFORMS:
        raise ScenarioError(f"{where}: platform must be one of {PLATFORMS}")
    outcome = str(raw.get("outcome", "stopped"))
    if outcome not in OUTCOMES:
        raise ScenarioError(f"{where}: outcome must be one of {OUTCOMES}")
    people: list[Participant] = []
    for i, p in enumerate(raw.get("participants") or []):
        pw = f"{where} participant #{i}"
        if not isinstance(p, dict) or not p.get("name"):
            raise ScenarioError(f"{pw}: needs a name")
        if set(p) - _PARTICIPANT_KEYS:
            raise ScenarioError(f"{pw}: unknown field(s) {sorted(set(p) - _PARTICIPANT_KEYS)}")
        people.append(
            Participant(
                name=str(p["name"]),
                speech=_windows(p.get("speech"), f"{pw} speech"),
                camera=_windows(p.get("camera"), f"{pw} camera"),
                screen_share=_windows(p.get("screen_share"), f"{pw} screen_share"),
            )
        )
    processing = raw.get("processing") or {}
    audio_delay = float(processing.get("audio_delay", 30))
    video_delay = float(processing.get("video_delay", max(90.0, audio_delay + 1)))
    if video_delay <= audio_delay:
        raise ScenarioError(f"{where}: processing.video_delay must exceed audio_delay")
    shape = raw.get("video_shape")
    if shape not in (None, "nested", "flat"):
        raise ScenarioError(f"{where}: video_shape must be nested or flat")
    faults = raw.get("faults") or []
    if not isinstance(faults, list):
        raise ScenarioError(f"{where}: faults must be a list of fault rules")
    for rule in faults:
        try:
            parse_fault(rule)
        except (FaultError, TypeError, ValueError) as exc:
            raise ScenarioError(f"{where}: invalid fault {rule!r}: {exc}") from exc
    error_at = raw.get("error_at")
    return MeetingScript(
        transcript=_transcript(raw.get("transcript"), where),
        platform=platform,
        duration=float(raw.get("duration", 600)),
        participants=tuple(people),
        outcome=outcome,
        waiting_room=float(raw.get("waiting_room", 0)),
        join_delay=float(raw.get("join_delay", 5)),
        error_at=None if error_at is None else float(error_at),
        audio_delay=audio_delay,
        video_delay=video_delay,
        video_shape=shape,
        faults=tuple(faults),
    )


def _transcript(raw: Any, where: str) -> TranscriptScript:
    if raw is None:
        return TranscriptScript()
    if not isinstance(raw, dict) or set(raw) - _TRANSCRIPT_KEYS:
        raise ScenarioError(f"{where}: transcript takes only {sorted(_TRANSCRIPT_KEYS)}")
    outcome = str(raw.get("outcome", "processed"))
    if outcome not in TRANSCRIPT_OUTCOMES:
        raise ScenarioError(f"{where}: transcript.outcome must be one of {TRANSCRIPT_OUTCOMES}")
    every = raw.get("mislabel_every")
    if every is not None and (not isinstance(every, int) or every < 0):
        raise ScenarioError(f"{where}: transcript.mislabel_every must be a whole number >= 0")
    delay = raw.get("delay", 10.0)
    if not isinstance(delay, int | float) or delay < 0:
        raise ScenarioError(f"{where}: transcript.delay must be a number of seconds >= 0")
    return TranscriptScript(outcome, float(delay), every)


def parse_scenario(data: Any) -> Scenario:
    """Build a :class:`Scenario` from the decoded YAML/JSON document."""
    if data is None:
        return Scenario()
    if not isinstance(data, dict) or not isinstance(data.get("meetings", {}), dict):
        raise ScenarioError("scenario: top level must be a mapping with a 'meetings' mapping")
    scenario = Scenario(account_bots=_account_bots(data.get("account_bots", [])))
    meetings = data.get("meetings", {})
    parsed = {str(link): parse_script(str(link), raw) for link, raw in meetings.items()}
    for link, script in parsed.items():
        scenario.meetings[_link_keys(link)[0]] = script
    for link, script in parsed.items():
        # A scripted link with a passcode also answers for the bare link, unless scripted too.
        scenario.meetings.setdefault(_link_keys(link)[-1], script)
    return scenario


def _account_bots(raw: Any) -> tuple[AccountBotScript, ...]:
    if not isinstance(raw, list) or not all(isinstance(b, dict) and "link" in b for b in raw):
        raise ScenarioError("scenario: account_bots must be a list of mappings with a 'link'")
    try:
        return tuple(AccountBotScript(**b) for b in raw)
    except TypeError as exc:
        raise ScenarioError(f"scenario: account_bots: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read a ``.json``, ``.yaml`` or ``.yml`` scenario file."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    return parse_scenario(data)


_NAMES = ("Ana Souza", "Ben Carter", "Chen Wei", "Dana Levi", "Emeka Obi", "Fatima Khan")


def default_script(link: str) -> MeetingScript:
    """A plausible meeting seeded by a hash of the link: same link, same meeting."""
    seed = hashlib.sha256(link.strip().encode("utf-8")).digest()
    duration = 600.0 + (seed[0] % 11) * 60.0  # 10..20 meeting-minutes
    count = 3 + seed[1] % 3
    people: list[Participant] = []
    turn = duration / (count * 2)
    for i in range(count):
        # Round-robin turns, each person speaks twice; the last person keeps the camera off.
        speech = ((i * turn, (i + 0.8) * turn), ((count + i) * turn, (count + i + 0.7) * turn))
        camera: tuple[Window, ...] = () if i == count - 1 else ((0.0, duration),)
        share: tuple[Window, ...] = ((turn, 3 * turn),) if i == 0 and seed[2] % 2 else ()
        people.append(Participant(_NAMES[(seed[3] + i) % len(_NAMES)], speech, camera, share))
    return MeetingScript(platform_from_link(link), duration, tuple(people))
