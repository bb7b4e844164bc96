"""The `bots` row of one capture as a validated model, and how it is derived.

Responsibility: `BotRecord` (one row of the `bots` table, its columns as typed fields) and
`bot_record`, which derives the row from what a capture knows: the meeting date, the
normalized platform, and the counts and flags by the same rules as the participant rows.

Traps guarded against: a meeting link's passcode in the catalog (a Zoom link carries it, so
`meeting_link_redacted` is redacted on every assignment, whatever the caller passes), naive
datetimes read as local time (they are taken as UTC), and a meeting date that depends on
the machine's time zone (it is the UTC date of when the bot joined).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog.join import ParticipantRow, summarize_bot
from meetstream_catalog.catalog.names import normalize_platform
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.meetstream.models import AudioManifest, VideoManifest
from meetstream_catalog.meetstream.timeline import SpeakerTimelineState
from meetstream_catalog.meetstream.transcripts import TranscriptState
from meetstream_catalog.redaction import redact_link

__all__ = ["BotRecord", "bot_record"]


class BotRecord(BaseModel):
    """One row of the `bots` table, filled in by the capture flow.

    `meeting_link_redacted` is redacted on assignment, whatever the caller passes; naive
    datetimes are taken as UTC.
    """

    model_config = ConfigDict(validate_assignment=True)

    bot_id: str = Field(min_length=1)
    meeting_date: date
    request_id: str | None = None
    bot_name: str | None = None
    platform: str | None = None
    meeting_link_redacted: str | None = None
    final_status: str | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    created_at: datetime | None = None
    left_at: datetime | None = None
    collected_at: datetime | None = None
    audio_streams_available: bool | None = None
    video_streams_available: bool | None = None
    audio_participants: int | None = None
    webcam_streams: int | None = None
    screenshare_streams: int | None = None
    media_files: int | None = None
    media_bytes: int | None = None
    speaker_cap_reached: bool | None = None
    camera_cap_reached: bool | None = None
    no_streams: bool | None = None
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    expected_end_at: datetime | None = None
    speaker_timeline: SpeakerTimelineState | None = None
    speech_turns: int | None = None
    deleted_at: datetime | None = None
    deleted_objects: int | None = None
    missing_files: list[str] | None = None  # each file not archived, and why; once each
    transcript: TranscriptState | None = None  # null: not fetched (in progress, failed row)
    transcript_id: str | None = None
    transcript_provider: str | None = None
    utterances: int | None = None
    source: str | None = None  # 'account': found at the account, not created by a request

    @field_validator("meeting_link_redacted")
    @classmethod
    def _redact(cls, value: str | None) -> str | None:
        return redact_link(value) if value else value

    @field_validator("created_at", "left_at", "collected_at", "expected_end_at", "deleted_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bot_record(
    *,
    bot_id: str,
    request_id: str | None = None,
    bot_name: str | None = None,
    meeting_link: str | None = None,
    platform: str | None = None,
    final_status: str | None = None,
    outcome: str | None = None,
    reason: str | None = None,
    created_at: datetime | None = None,
    left_at: datetime | None = None,
    join_at: datetime | None = None,
    audio: AudioManifest | None = None,
    video: VideoManifest | None = None,
    media: Sequence[ArchivedMedia] = (),
    participants: Sequence[ParticipantRow] = (),
    custom_attributes: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    expected_end_at: datetime | None = None,
    speaker_timeline: str | None = None,
    speech_turns: int | None = None,
    missing_files: Sequence[str] | None = None,
    transcript: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> BotRecord:
    """The `bots` row of one capture, with counts and flags from `summarize_bot`.

    `meeting_date` is the UTC date of `join_at`, else `created_at`, else `left_at`, else
    today. `transcript` holds the `transcript*` and `utterances` columns.
    Raises ValueError if a media or participant row belongs to another bot, or
    (pydantic) for an unknown `outcome`.
    """
    if any(m.bot_id != bot_id for m in media) or any(p.bot_id != bot_id for p in participants):
        raise ValueError("media/participant rows of another bot passed to bot_record")
    when = next((t for t in (join_at, created_at, left_at) if t is not None), None)
    now = datetime.now(UTC)
    day = (when.astimezone(UTC) if when.tzinfo else when).date() if when else now.date()
    fields: dict[str, Any] = {
        "bot_id": bot_id,
        "meeting_date": day,
        "request_id": request_id,
        "bot_name": bot_name,
        "platform": normalize_platform(platform),
        "meeting_link_redacted": meeting_link,  # redacted by BotRecord's validator
        "final_status": final_status,
        "outcome": outcome,
        "reason": reason or None,
        "created_at": created_at,
        "left_at": left_at,
        "collected_at": now,
        "custom_attributes": dict(custom_attributes or {}),
        "run_id": run_id,
        "expected_end_at": expected_end_at,
        "speaker_timeline": speaker_timeline,
        "speech_turns": speech_turns,
        "missing_files": list(missing_files) if missing_files else None,
        "source": source,
        **(transcript or {}),
        **summarize_bot(audio, video, media).model_dump(),
    }
    return BotRecord.model_validate(fields)
