"""The bot's life as MeetStream reports it: `BotState` and the create, status and detail answers.

The trap this module guards against is reading status text literally: the API spells states
in several ways (`InMeeting`, `in_meeting`, `failed` for Error, `kicked` for Stopped), and a
status poll may first see `Done`, which hides how the bot left. `BotState.parse` normalizes
every known variant (case-insensitive), and `BotDetail.exit_state` recovers the exit stage
from the status timeline.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import Field, model_validator

from meetstream_catalog.meetstream.models import Liberal


class BotState(enum.StrEnum):
    """Normalized bot status. `parse` is case-insensitive and maps known variants."""

    ACTIVE = "Active"
    SCHEDULED = "Scheduled"
    JOINING = "Joining"
    IN_WAITING_ROOM = "InWaitingRoom"
    IN_MEETING = "InMeeting"
    RECORDING = "Recording"
    LEAVING = "Leaving"
    MEDIA_PROCESSING = "MediaProcessing"
    STOPPED = "Stopped"
    NOT_ALLOWED = "NotAllowed"
    DENIED = "Denied"
    ERROR = "Error"
    DONE = "Done"
    UNKNOWN = "Unknown"

    @classmethod
    def parse(cls, raw: str | None) -> BotState:
        if not raw:
            return cls.UNKNOWN
        key = "".join(ch for ch in raw if ch not in " _-").casefold()
        return _STATE_ALIASES.get(key, cls.UNKNOWN)

    @property
    def has_left(self) -> bool:
        """True once the bot is out of the meeting (its media can be processed)."""
        return self in _LEFT

    @property
    def produced_no_media(self) -> bool:
        """NotAllowed and Denied bots never recorded anything."""
        return self in {BotState.NOT_ALLOWED, BotState.DENIED}


_STATE_ALIASES: dict[str, BotState] = {s.value.casefold(): s for s in BotState}
_STATE_ALIASES.update(
    {
        "failed": BotState.ERROR,
        "waitingroom": BotState.IN_WAITING_ROOM,
        "botnotallowed": BotState.NOT_ALLOWED,
        "botrejected": BotState.DENIED,
        "rejected": BotState.DENIED,
        "kicked": BotState.STOPPED,
    }
)
_LEFT = {
    BotState.STOPPED,
    BotState.NOT_ALLOWED,
    BotState.DENIED,
    BotState.ERROR,
    BotState.DONE,
    BotState.MEDIA_PROCESSING,
}


class BotCreated(Liberal):
    """Answer of create_bot: 201 (new), 200 (deduplication_key replay) or 507 (idempotent
    replay). `replayed` says the bot already existed."""

    bot_id: str
    transcript_id: str | None = None
    meeting_url: str | None = None
    status: str | None = None
    replayed: bool = False

    @property
    def state(self) -> BotState:
        return BotState.parse(self.status)


class BotStatus(Liberal):
    bot_id: str
    status: str | None = None
    custom_attributes: dict[str, Any] = Field(default_factory=dict)

    @property
    def state(self) -> BotState:
        return BotState.parse(self.status)


class BotDetail(Liberal):
    """`GET /bots/{id}/detail`: only the fields the pipeline reads are typed."""

    bot_id: str | None = Field(default=None, alias="BotID")
    status: str | None = Field(default=None, alias="Status")
    platform: str | None = Field(default=None, alias="Platform")
    status_timeline: dict[str, Any] = Field(default_factory=dict, alias="StatusTimeline")
    custom_attributes: dict[str, Any] = Field(default_factory=dict)

    meeting_link: str | None = Field(default=None, alias="MeetingLink")
    bot_name: str | None = Field(default=None, alias="BotName")
    # Live-verified, not in the OpenAPI schema: the bot's latest transcript run (a
    # /transcribe call replaces it); null without a post-call provider.
    transcript_id: str | None = None
    # The provider asked for at creation, read from `RequestPayload` (the echoed create
    # body); the payload itself is dropped: it holds the link's passcode and callback token.
    transcript_provider: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("bot_details"), dict):
            data = data["bot_details"]
        if isinstance(data, dict) and "transcript_provider" not in data:
            payload = data.get("RequestPayload")
            recording = payload.get("recording_config") if isinstance(payload, dict) else None
            transcript = recording.get("transcript") if isinstance(recording, dict) else None
            provider = transcript.get("provider") if isinstance(transcript, dict) else None
            if isinstance(provider, dict) and len(provider) == 1:
                data = {**data, "transcript_provider": next(iter(provider))}
        return data

    def exit_state(self) -> BotState:
        """How the bot left the meeting, even once its status has moved on to Done.

        A status poll may first see `Done`, which hides whether the bot was stopped, denied
        or never admitted; the timeline keeps the exit stage.
        """
        reached = {
            stage.casefold()
            for stage, entry in self.status_timeline.items()
            if not isinstance(entry, dict) or entry.get("status", True)
        }
        for stage, state in _EXIT_STAGES:
            if stage in reached:
                return state
        return BotState.parse(self.status)


# Checked in this order: a crash or refusal outranks the Stopped that may follow it.
_EXIT_STAGES = (
    ("error", BotState.ERROR),
    ("botrejected", BotState.DENIED),
    ("denied", BotState.DENIED),
    ("botnotallowed", BotState.NOT_ALLOWED),
    ("notallowed", BotState.NOT_ALLOWED),
    ("stopped", BotState.STOPPED),
)
