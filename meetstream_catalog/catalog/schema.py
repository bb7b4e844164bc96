"""The catalog's tables as declared in code: their names, Arrow schemas and partitions.

Responsibility: one explicit, versioned schema per table (`TABLE_SCHEMAS`), the list of
tables (`TABLES`: every table, which maintenance, `tables` and the query views go through;
`CAPTURE_TABLES`: the ones a capture writes, one bot's rows each; `TRANSCRIPT_TABLES`: a
bot's transcript), each table's partition
column, the values of `bots.outcome`, and the rule a schema change must follow.

Traps guarded against: schema drift by inference (a column that is all-null in one bot's
rows would otherwise be typed `null` and clash with the Delta table's schema), and a change
that breaks the rows already written: a later version may only append nullable columns
(`assert_compatible`), which the writers merge into the Delta tables.
"""

from __future__ import annotations

import enum

import pyarrow as pa

__all__ = [
    "AUDIT_TABLES",
    "BOT_EVENTS",
    "CAPTURE_TABLES",
    "ERASURES",
    "EXPORTS",
    "INTENTS",
    "PARTITION",
    "PARTITIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "TABLE_SCHEMAS",
    "TRANSCRIPT_TABLES",
    "Outcome",
    "assert_compatible",
]

SCHEMA_VERSION = 2  # v2: Delta tables, `meeting_date` a real date32 column of the data
PARTITION = "meeting_date"
BOT_EVENTS = "bot_events"
INTENTS = "intents"
EXPORTS = "exports"
ERASURES = "erasures"
# What one capture writes (`write_bot`): one bot's rows each, partitioned by meeting_date.
CAPTURE_TABLES = ("bots", "media", "participants", "speech")
# A bot's transcript (issue 20): written with its capture when it has a transcript state,
# or later by `transcribe`; one bot's rows each, partitioned by meeting_date too.
TRANSCRIPT_TABLES = ("utterances", "words")
# Every table of the catalog: the append-only `bot_events` (webhooks) and `intents`
# (written before each create call) too.
# Issue 21: the audit of what left the catalog: each export run and each erasure, appended.
AUDIT_TABLES = (EXPORTS, ERASURES)
TABLES = (*CAPTURE_TABLES, *TRANSCRIPT_TABLES, BOT_EVENTS, INTENTS, *AUDIT_TABLES)
# A webhook has no meeting date, only its own time; an intent, the day it was written.
PARTITIONS = {
    **dict.fromkeys((*CAPTURE_TABLES, *TRANSCRIPT_TABLES), PARTITION),
    BOT_EVENTS: "event_date",
    INTENTS: "intent_date",
    EXPORTS: "export_date",
    ERASURES: "erasure_date",
}


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


# The partition column (meeting_date; bot_events: event_date) is a date32 in every row, so
# every reader of the Delta table (pandas, Polars, DuckDB, Spark) types it the same way.
# Later versions may only APPEND nullable fields (see assert_compatible); the table schema
# merges them in.
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
            # Issue 18: each file not archived, once ("audio of 'Sam' (segment 0): 403").
            _f("missing_files", _STRINGS),
            # Issue 20: the transcript (state, run id, provider) and its utterance count.
            _f("transcript", pa.string()),
            _f("transcript_id", pa.string()),
            _f("transcript_provider", pa.string()),
            _f("utterances", pa.int64()),
            # Issue 22: who created the bot: null for this product's requests, 'account'
            # for a bot found at the account by reconciliation (dashboard, calendar, ...).
            _f("source", pa.string()),
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
            # Issue 21, appended: when media retention deleted the file (the row stays).
            _f("media_erased_at", _TS),
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
    # Issue 20: the transcript, one row per utterance, attributed to a participant.
    "utterances": pa.schema(
        [
            _f("bot_id", pa.string(), nullable=False),
            _f(PARTITION, pa.date32(), nullable=False),
            _f("utterance_index", pa.int64(), nullable=False),
            _f("participant_key", pa.string()),
            _f("participant_name", pa.string()),
            _f("device_id", pa.string()),
            _f("audio_stream_id", pa.string()),
            _f("start_seconds", pa.float64()),
            _f("end_seconds", pa.float64()),
            _f("text", pa.string()),
            _f("confidence", pa.float64()),
            _f("words", pa.int64()),
            _f("provider", pa.string()),
            _f("transcript_id", pa.string()),
            _f("attribution", pa.string(), nullable=False),
            _f("cover", pa.float64()),
            _f("provider_speaker", pa.string()),
            _f("speaker_disagrees", pa.bool_()),
        ],
    ),
    "words": pa.schema(
        [
            _f("bot_id", pa.string(), nullable=False),
            _f(PARTITION, pa.date32(), nullable=False),
            _f("utterance_index", pa.int64(), nullable=False),
            _f("word_index", pa.int64(), nullable=False),
            _f("word", pa.string()),
            _f("start_seconds", pa.float64()),
            _f("end_seconds", pa.float64()),
            _f("confidence", pa.float64()),
            _f("participant_key", pa.string()),
            _f("device_id", pa.string()),
        ],
    ),
    # Appended by the webhook receiver (`meetstream_catalog.catalog.events`), never rewritten.
    BOT_EVENTS: pa.schema(
        [
            _f("bot_id", pa.string(), nullable=False),
            _f("event", pa.string(), nullable=False),
            _f("bot_event", pa.string()),
            _f("bot_status", pa.string()),
            _f("message", pa.string()),
            _f("status_code", pa.int64()),
            _f("timestamp", _TS),
            _f("received_at", _TS, nullable=False),
            _f(PARTITIONS[BOT_EVENTS], pa.date32(), nullable=False),
            # Issue 24, appended: the catalog did not know this bot as the delivery's (no
            # `bots` row, or another request's), so the event started no collection.
            _f("unknown_bot", pa.bool_()),
        ]
    ),
    # Appended before every create call (`meetstream_catalog.catalog.intents`).
    INTENTS: pa.schema(
        [
            _f("key", pa.string(), nullable=False),
            _f("state", pa.string(), nullable=False),
            _f("meeting_link_redacted", pa.string(), nullable=False),
            _f("link_has_secret", pa.bool_(), nullable=False),
            _f("bot_name", pa.string(), nullable=False),
            _f("join_at", _TS),
            _f("max_meeting_minutes", pa.int64()),
            _f("composite_video", pa.bool_()),
            _f("custom_attributes", pa.string()),
            _f("expires_at", _TS, nullable=False),
            _f("run_id", pa.string()),
            _f("written_at", _TS, nullable=False),
            _f(PARTITIONS[INTENTS], pa.date32(), nullable=False),
        ]
    ),
    # Issue 21: one row per export run (`meetstream_catalog.catalog.audit`): where it wrote
    # (a URL without credentials), which bots, and the participants as key digests (no names).
    EXPORTS: pa.schema(
        [
            _f("export_id", pa.string(), nullable=False),
            _f("exported_at", _TS, nullable=False),
            _f(PARTITIONS[EXPORTS], pa.date32(), nullable=False),
            _f("format", pa.string(), nullable=False),
            _f("location", pa.string(), nullable=False),
            _f("filter", pa.string()),
            _f("bot_ids", _STRINGS),
            _f("participant_digests", _STRINGS),
            _f("meetings", pa.int64()),
            _f("files", pa.int64()),
        ]
    ),
    # Issue 21: the erasure audit, one row per step of an erasure (`started`, `purging`,
    # `failed`, `done`): ids only; a participant is the sha256 digest of their key.
    ERASURES: pa.schema(
        [
            _f("erasure_id", pa.string(), nullable=False),
            _f("state", pa.string(), nullable=False),
            _f("at", _TS, nullable=False),
            _f(PARTITIONS[ERASURES], pa.date32(), nullable=False),
            _f("subject", pa.string(), nullable=False),
            _f("bot_id", pa.string()),
            _f("participant_digest", pa.string()),
            _f("reason", pa.string()),
            _f("bot_ids", _STRINGS),
            _f("media_version", pa.int64()),
            _f("files_removed", pa.int64()),
            _f("rows_removed", pa.int64()),
            _f("rows_by_table", pa.string()),
            _f("export_entries_removed", pa.int64()),
            _f("exports_unreached", _STRINGS),
            _f("purged_files", _STRINGS),
            _f("meetstream_deleted", pa.bool_()),
            _f("stopped_at", pa.string()),
            _f("error", pa.string()),
        ]
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
