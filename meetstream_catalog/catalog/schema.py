"""The catalog's declared Arrow schemas, the `bots` record, and what may never be written.

Responsibility: one explicit, versioned schema per table (`bots`, `media`, `participants`),
conversion of records to Arrow tables, meeting-link redaction, and the presigned-URL guard.

Traps guarded against: schema drift by inference (a column that is all-null in one bot's
rows would otherwise be typed `null` and clash with the Delta table's schema), and
credentials in the catalog: a presigned URL is a bearer token, and a Zoom link carries its
passcode. Every string value is checked before anything is written, and the error never
echoes the value.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from meetstream_catalog.catalog.join import (
    ParticipantRow,
    normalize_name,
    normalize_platform,
    summarize_bot,
)
from meetstream_catalog.meetstream.models import ArchivedMedia, AudioManifest, VideoManifest
from meetstream_catalog.meetstream.timeline import SpeakerTimelineState
from meetstream_catalog.redaction import redact_link

SCHEMA_VERSION = 2  # v2: Delta tables, `meeting_date` a real date32 column of the data
PARTITION = "meeting_date"
TABLES = ("bots", "media", "participants", "speech")


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


_TS = pa.timestamp("us", tz="UTC")
_STRINGS = pa.list_(pa.string())


def _f(name: str, type_: pa.DataType, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable)


# meeting_date is the Delta partition column: a date32 in every row, so every reader of the
# Delta table (pandas, Polars, DuckDB, Spark) types it the same way. Later versions may only
# APPEND nullable fields (see assert_compatible); the table schema merges them in.
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "bots": pa.schema(
        [
            _f("bot_id", pa.string(), nullable=False),
            _f(PARTITION, pa.date32(), nullable=False),
            _f("request_id", pa.string()),
            _f("bot_name", pa.string()),
            _f("platform", pa.string()),
            _f("meeting_link_redacted", pa.string()),
            _f("final_status", pa.string()),
            _f("outcome", pa.string()),
            _f("reason", pa.string()),
            _f("created_at", _TS),
            _f("left_at", _TS),
            _f("collected_at", _TS),
            _f("audio_streams_available", pa.bool_()),
            _f("video_streams_available", pa.bool_()),
            _f("audio_participants", pa.int64()),
            _f("webcam_streams", pa.int64()),
            _f("screenshare_streams", pa.int64()),
            _f("media_files", pa.int64()),
            _f("media_bytes", pa.int64()),
            _f("speaker_cap_reached", pa.bool_()),
            _f("camera_cap_reached", pa.bool_()),
            _f("no_streams", pa.bool_()),
            _f("custom_attributes", pa.string()),
            _f("schema_version", pa.int64()),
            _f("run_id", pa.string()),
            # Added without a version bump: a nullable column merges into the table schema.
            _f("expected_end_at", _TS),
            # Issue 13, also nullable and appended: the speaker timeline and data deletion.
            _f("speaker_timeline", pa.string()),
            _f("speech_turns", pa.int64()),
            _f("deleted_at", _TS),
            _f("deleted_objects", pa.int64()),
        ],
    ),
    "media": pa.schema(
        [
            _f("bot_id", pa.string(), nullable=False),
            _f(PARTITION, pa.date32(), nullable=False),
            _f("kind", pa.string(), nullable=False),
            _f("participant_name", pa.string()),
            _f("participant_key", pa.string()),
            _f("stream_id", pa.string()),
            _f("segment_index", pa.int64()),
            _f("filename", pa.string()),
            _f("duration_seconds", pa.float64()),
            _f("codec", pa.string()),
            _f("sample_rate", pa.int64()),
            _f("channels", pa.int64()),
            _f("width", pa.int64()),
            _f("height", pa.int64()),
            _f("key", pa.string(), nullable=False),
            _f("storage_uri", pa.string()),
            _f("bytes", pa.int64()),
            _f("sha256", pa.string()),
        ],
    ),
    "participants": pa.schema(
        [
            _f("bot_id", pa.string(), nullable=False),
            _f(PARTITION, pa.date32(), nullable=False),
            _f("participant_key", pa.string(), nullable=False),
            _f("participant_name", pa.string()),
            _f("audio_participant_name", pa.string()),
            _f("video_participant_name", pa.string()),
            _f("match", pa.string(), nullable=False),
            _f("audio_storage_uri", pa.string()),
            _f("audio_key", pa.string()),
            _f("audio_stream_id", pa.string()),
            _f("audio_segments", pa.int64()),
            _f("audio_seconds", pa.float64()),
            _f("webcam_segments", pa.int64()),
            _f("webcam_seconds", pa.float64()),
            _f("webcam_stream_ids", _STRINGS),
            _f("screenshare_segments", pa.int64()),
            _f("screenshare_seconds", pa.float64()),
            _f("screenshare_stream_ids", _STRINGS),
            _f("speaker_cap_reached", pa.bool_()),
            _f("camera_cap_reached", pa.bool_()),
            _f("audio_possibly_capped", pa.bool_()),
            _f("audio_isolation", pa.string()),
            _f("device_id", pa.string()),
            _f("match_method", pa.string()),
            _f("speech_turns", pa.int64()),
            _f("talk_seconds", pa.float64()),
        ],
    ),
    "speech": pa.schema(
        [
            _f("bot_id", pa.string(), nullable=False),
            _f(PARTITION, pa.date32(), nullable=False),
            _f("turn_index", pa.int64(), nullable=False),
            _f("participant_name", pa.string()),
            _f("participant_key", pa.string()),
            _f("device_id", pa.string()),
            _f("audio_stream_id", pa.string()),
            _f("start_seconds", pa.float64()),
            _f("end_seconds", pa.float64()),
            _f("duration_seconds", pa.float64()),
            _f("started_at", _TS),
            _f("chunks", pa.int64()),
        ],
    ),
}


def assert_compatible(old: pa.Schema, new: pa.Schema) -> None:
    """Raise ValueError unless `new` only appends nullable fields to `old`."""
    if list(new.names[: len(old)]) != list(old.names):
        raise ValueError("a new schema version may not rename, drop or reorder columns")
    for before, after in zip(old, new, strict=False):
        if not before.type.equals(after.type) or before.nullable != after.nullable:
            raise ValueError(f"column {before.name!r} changed type or nullability")
    for added in list(new)[len(old) :]:
        if not added.nullable:
            raise ValueError(f"added column {added.name!r} must be nullable")


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
) -> BotRecord:
    """The `bots` row of one capture, with counts and flags from `summarize_bot`.

    `meeting_date` is the UTC date of `join_at`, else `created_at`, else `left_at`, else
    today. Raises ValueError if a media or participant row belongs to another bot, or
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
        **summarize_bot(audio, video, media).model_dump(),
    }
    return BotRecord.model_validate(fields)


def bots_table(bot: BotRecord) -> pa.Table:
    row = bot.model_dump()
    # JSON text, not map<string,string>: values may be numbers or nested, and every reader
    # (pandas, DuckDB json_extract, Polars str.json_decode) handles a plain string column.
    row["custom_attributes"] = json.dumps(
        bot.custom_attributes, sort_keys=True, ensure_ascii=False, default=str
    )
    row["schema_version"] = SCHEMA_VERSION
    return _table("bots", [row])


def media_table(media: Sequence[ArchivedMedia], day: date) -> pa.Table:
    rows = []
    for m in media:
        row = m.model_dump(exclude={"copied"})
        name = m.participant_name
        row["participant_key"] = normalize_name(name) if name is not None else None
        row[PARTITION] = day
        rows.append(row)
    return _table("media", rows)


def participants_table(rows: Sequence[ParticipantRow], day: date) -> pa.Table:
    return _table("participants", [{**r.model_dump(), PARTITION: day} for r in rows])


def speech_table(rows: Sequence[BaseModel], day: date) -> pa.Table:
    return _table("speech", [{**r.model_dump(), PARTITION: day} for r in rows])


def _table(name: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    schema = TABLE_SCHEMAS[name]
    columns = {f.name: [row.get(f.name) for row in rows] for f in schema}
    table = pa.Table.from_pydict(columns, schema=schema)
    refuse_presigned_urls(name, table)
    return table


# A presigned S3 URL (SigV4 or SigV2), or any http(s) URL with a query string: the catalog
# stores durable URIs and redacted links only, neither of which has a query.
_PRESIGNED = r"(?i)(x-amz-signature|signature=|https?://[^\s]*\?)"


def refuse_presigned_urls(name: str, table: pa.Table) -> None:
    """Raise ValueError if any string value of `table` looks like a presigned URL.

    The message names the table, column and row, never the value (it is a credential).
    """
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_list(field.type):
            column = pc.list_flatten(column)
        elif not pa.types.is_string(field.type):
            continue
        hits = pc.match_substring_regex(column, _PRESIGNED)
        if pc.any(hits).as_py():
            row = pc.index(hits, True).as_py()
            raise ValueError(
                f"refusing to write a presigned/query URL into catalog table {name!r}, "
                f"column {field.name!r} (value #{row}); store the durable storage URI instead"
            )
