"""The typed values that travel along one meeting's capture: the job in, the result out.

`CaptureJob` is resolved once per run (the request, its idempotency key, the storage roots,
the settings with the API key loaded once) and handed to every step; `BotLeft` (and
`tasks.capture.Archived`) are what the middle steps hand on; `CaptureResult` is what a
flow returns and its artifacts show. The trap guarded here is the untyped path: a
`dict[str, Any]` per step that turned bot states into strings and back, and grew
functions of 17 arguments.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from tasks.meetstream.models import BotState
from tasks.request import MeetingRequest
from tasks.settings import Settings

CaptureMode = Literal["auto", "wait", "webhook"]
"""`wait`: the run polls until the bot left and archives it; `webhook`: the run creates the
bot with the receiver as its callback and ends, and the receiver's event starts
`collect-bot`; `auto`: webhook when a receiver is configured (MEETSTREAM_WEBHOOK_URL)."""


class Outcome(enum.StrEnum):
    """A bot's outcome in the `bots` table. `in_progress` from the moment it exists."""

    IN_PROGRESS = "in_progress"
    CAPTURED = "captured"
    PARTIAL = "partial"
    NO_MEDIA = "no_media"
    DENIED = "denied"
    NOT_ALLOWED = "not_allowed"
    ERROR = "error"
    FAILED = "failed"


@dataclass(frozen=True)
class CaptureJob:
    """One meeting to capture (or one existing bot to collect), resolved once per run."""

    request: MeetingRequest
    key: str  # the create-bot idempotency key, derived once from the request
    media_root: str
    catalog_root: str
    settings: Settings
    run_id: str | None = None
    callback_url: str | None = None  # webhook mode: MeetStream calls the receiver here
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class BotLeft:
    """The bot has left the meeting: how, and what its detail says about the meeting."""

    state: BotState
    platform: str | None
    meeting_link: str | None
    bot_name: str | None
    left_at: dt.datetime


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
