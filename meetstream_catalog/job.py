"""The typed values that travel along one meeting's capture: the job in, the result out.

`CaptureJob` is built once per meeting, at the edge (the flow or the CLI): the meeting, the
idempotency key, the leave deadline, the storage roots and the settings with the API key
loaded once. Every step takes what it needs from it and derives nothing again. `BotLeft`
(and `meetstream_catalog.capture.Archived`) are what the middle steps hand on;
`CaptureResult` is what a flow returns and its artifacts show. The trap guarded here is the
untyped path: a `dict[str, Any]` per step that turned bot states into strings and back,
and values (deadlines, roots) derived again in every step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.meetstream.bot import BotState
from meetstream_catalog.meetstream.manifests import Manifests
from meetstream_catalog.request import MeetingRequest, platform_from_link
from meetstream_catalog.request.links import run_label
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import Settings

CaptureMode = Literal["auto", "wait", "webhook"]
"""`wait`: the run polls until the bot left and archives it; `webhook`: the run creates the
bot with the receiver as its callback and ends, and the receiver's event starts
`collect-bot`; `auto`: webhook when a receiver is configured (MEETSTREAM_WEBHOOK_URL)."""

# Beyond the longest meeting: the longest waiting room (30 min on Teams) and a margin
# for joining and leaving.
_LEAVE_MARGIN_SECONDS = 30 * 60 + 10 * 60
_DEFAULT_MAX_MEETING_MINUTES = 240


@dataclass(frozen=True)
class CaptureJob:
    """One meeting to capture (or one existing bot to collect), built once per run."""

    key: str  # the create-bot idempotency key, derived once from the request
    meeting_link: str  # the meeting's address, never its passcode
    bot_name: str
    media_root: Root
    catalog_root: Root
    settings: Settings
    leave_deadline_seconds: float  # how long to wait, from the bot's creation, for it to leave
    request: MeetingRequest | None = None  # what to create; None: a bot created elsewhere
    join_at: dt.datetime | None = None
    custom_attributes: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    callback_url: str | None = None  # webhook mode: MeetStream calls the receiver here
    source: str | None = None  # `bots.source`: 'account' for a bot found by reconciliation
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def for_request(
        cls,
        request: MeetingRequest,
        *,
        key: str,
        settings: Settings,
        media_root: Root,
        catalog_root: Root,
        run_id: str | None = None,
        callback_url: str | None = None,
    ) -> CaptureJob:
        """The job for a meeting to capture: everything derived from the request, once."""
        return cls(
            key=key,
            meeting_link=request.meeting_link,
            bot_name=request.bot_name,
            media_root=media_root,
            catalog_root=catalog_root,
            settings=settings,
            leave_deadline_seconds=leave_deadline_seconds(
                request.join_at, request.max_meeting_minutes
            ),
            request=request,
            join_at=request.join_at,
            custom_attributes=dict(request.custom_attributes),
            run_id=run_id,
            callback_url=callback_url,
        )

    @property
    def platform(self) -> str | None:
        return platform_from_link(self.meeting_link) if self.meeting_link else None

    @property
    def run_name(self) -> str:
        """Platform and meeting id, recorder name and join time (or "now"), for log lines."""
        when = self.join_at.strftime("%Y-%m-%d %H:%M UTC") if self.join_at else "now"
        label = run_label(self.meeting_link) if self.meeting_link else "meeting"
        return f"{label} · {self.bot_name or 'recorder'} · {when}"


def leave_deadline_seconds(
    join_at: dt.datetime | None,
    max_meeting_minutes: int = _DEFAULT_MAX_MEETING_MINUTES,
    *,
    now: dt.datetime | None = None,
) -> float:
    """How long to wait for the bot to leave: until the join time, plus the longest meeting,
    plus the longest waiting room (30 min on Teams) and a margin for joining and leaving."""
    now = now or dt.datetime.now(dt.UTC)
    until_join = 0.0 if join_at is None else max(0.0, (join_at - now).total_seconds())
    return until_join + max_meeting_minutes * 60 + _LEAVE_MARGIN_SECONDS


@dataclass(frozen=True)
class BotLeft:
    """The bot has left the meeting: how, and what its detail says about the meeting."""

    state: BotState
    platform: str | None
    meeting_link: str | None
    bot_name: str | None
    left_at: dt.datetime
    transcript_id: str | None = None  # the bot's latest transcript run (detail), if any
    transcript_provider: str | None = None


@dataclass(frozen=True)
class Archived:
    """What the archive step stored, and what it could not (`missing`: one line per file)."""

    manifests: Manifests  # without URLs
    media: list[ArchivedMedia]
    missing: list[str] = field(default_factory=list)


class CaptureResult(BaseModel):
    """One meeting's result, as flows return it and artifacts show it (no URL, no secret)."""

    meeting: str
    bot_id: str | None = None
    outcome: Outcome
    reason: str = ""
    platform: str | None = None
    final_status: str | None = None
    audio_participants: int | None = None
    webcam_streams: int | None = None
    screenshare_streams: int | None = None
    media_files: int | None = None
    media_bytes: int | None = None
    missing_files: int = 0
    # What became of the transcript (`bots.transcript`): available, empty, failed, not_ready,
    # missing, malformed, not_requested; None before the bot left.
    transcript: str | None = None
