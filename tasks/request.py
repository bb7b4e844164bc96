"""What a user asks for: one meeting request, and what is derived from it once.

`MeetingRequest` is the single-meeting deployment's parameter model, so the Prefect UI
renders it as a form (field descriptions become labels). The trap guarded here is the
idempotency key: it is derived from the request itself, never generated inside a retry
loop, so a retried task or a re-run flow replays the same bot (507) instead of paying for
a second one.
"""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from pydantic import BaseModel, Field, field_validator

_KEY_NAMESPACE = uuid.UUID("5b0f5d1e-8a53-4c5e-9a43-2f1d3f0c7a10")


class MeetingRequest(BaseModel):
    """What a user asks for: one bot in one meeting. Rendered as a form in the Prefect UI."""

    meeting_link: str = Field(description="Zoom, Google Meet or Teams meeting link.")
    bot_name: str = Field(default="Meeting Recorder", description="Name the bot joins with.")
    join_at: dt.datetime | None = Field(
        default=None, description="When the bot should join (ISO-8601); empty means now."
    )
    custom_attributes: dict[str, str] = Field(
        default_factory=dict, description="Echoed by MeetStream and stored in the catalog."
    )
    request_id: str | None = Field(
        default=None,
        description="Stable id of this request; the bot's idempotency key is derived from it. "
        "Leave empty to derive it from the link and join time.",
    )
    max_meeting_minutes: int = Field(
        default=240, ge=10, le=300, description="Longest the meeting may last (bot timeout)."
    )
    composite_video: bool = Field(
        default=True, description="Also record and archive the composite video."
    )

    @field_validator("join_at")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        """A join time without a zone is read as UTC, so every worker agrees on it."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


def platform_from_link(link: str) -> str | None:
    """zoom / google_meet / teams from the meeting link's host, None when unknown."""
    host = (httpx.URL(link).host or "").casefold()
    if host == "zoom.us" or host.endswith(".zoom.us"):
        return "zoom"
    if host == "meet.google.com":
        return "google_meet"
    if host.startswith("teams.") and host.endswith((".microsoft.com", ".live.com")):
        return "teams"
    return None


def idempotency_key(request: MeetingRequest, *, run_scope: str) -> str:
    """Derive the create-bot idempotency key from the request, once.

    With a request_id or a join time the key depends only on the request, so any re-run
    of that request replays the same bot. Without either (an ad-hoc "join now"), the run
    scope (the flow run id) keeps retries of this run on one bot while a new run of the
    same link - the same meeting room next week - gets a new bot.
    """
    if request.request_id:
        basis = f"request|{request.request_id}"
    elif request.join_at is not None:
        basis = f"link|{request.meeting_link}|{request.join_at.isoformat()}"
    else:
        basis = f"run|{request.meeting_link}|{run_scope}"
    return str(uuid.uuid5(_KEY_NAMESPACE, basis))


def leave_deadline_seconds(request: MeetingRequest, *, now: dt.datetime | None = None) -> float:
    """How long to wait for the bot to leave: until the join time, plus the longest meeting,
    plus the longest waiting room (30 min on Teams) and a margin for joining and leaving."""
    now = now or dt.datetime.now(dt.UTC)
    until_join = 0.0
    if request.join_at is not None:
        join_at = (
            request.join_at if request.join_at.tzinfo else request.join_at.replace(tzinfo=dt.UTC)
        )
        until_join = max(0.0, (join_at - now).total_seconds())
    return until_join + request.max_meeting_minutes * 60 + 30 * 60 + 10 * 60
