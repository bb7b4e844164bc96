"""The catalog: Delta Lake tables of every meeting's bots, media, participants, speech,
utterances and words, webhook events and create intents, under one root (a local path or
`s3://`). Re-exports only; each name lives in the module named beside it.
"""

from meetstream_catalog.catalog.arrow_tables import (
    bots_table,
    media_table,
    participants_table,
    speech_table,
    utterances_table,
    words_table,
)
from meetstream_catalog.catalog.commit_retry import (
    COMMIT_BUDGET_SECONDS,
    CatalogConflictError,
    is_conflict,
    retry_conflicts,
)
from meetstream_catalog.catalog.group_commit import WRITE_ORDER
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.properties import SCHEMA_VERSION_KEY, TABLE_PROPERTIES
from meetstream_catalog.catalog.read import (
    AsOf,
    Filters,
    dataset,
    existing_media_checksums,
    open_table,
    read_table,
    reader_schema,
)
from meetstream_catalog.catalog.records import BotRecord, bot_record
from meetstream_catalog.catalog.replace import sql_literal
from meetstream_catalog.catalog.schema import PARTITION, SCHEMA_VERSION, TABLE_SCHEMAS, TABLES
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.catalog.utterances import UtteranceRow, WordRow
from meetstream_catalog.catalog.write import write_bot, write_bot_row, write_transcript

__all__ = [
    "COMMIT_BUDGET_SECONDS",
    "PARTITION",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_KEY",
    "TABLES",
    "TABLE_PROPERTIES",
    "TABLE_SCHEMAS",
    "WRITE_ORDER",
    "AsOf",
    "BotRecord",
    "CatalogConflictError",
    "Filters",
    "ParticipantRow",
    "SpeechRow",
    "UtteranceRow",
    "WordRow",
    "bot_record",
    "bots_table",
    "dataset",
    "existing_media_checksums",
    "is_conflict",
    "media_table",
    "open_table",
    "participants_table",
    "read_table",
    "reader_schema",
    "retry_conflicts",
    "speech_table",
    "sql_literal",
    "utterances_table",
    "words_table",
    "write_bot",
    "write_bot_row",
    "write_transcript",
]
