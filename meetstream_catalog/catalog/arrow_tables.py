"""Catalog rows as Arrow tables of the declared schemas, and what may never be written.

Responsibility: `bots_table`, `media_table`, `participants_table`, `speech_table`,
`utterances_table` and `words_table` turn
records into Arrow tables with exactly the columns and types of `TABLE_SCHEMAS`, and check
every string value before the writer touches storage.

Traps guarded against: schema drift by inference (a column all-null in one bot's rows would
be typed `null` and clash with the Delta table's schema), and credentials in the catalog: a
presigned URL is a bearer token. A value that looks like one makes the build fail, and the
error never echoes the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.names import normalize_name
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.catalog.schema import PARTITION, SCHEMA_VERSION, TABLE_SCHEMAS
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.catalog.utterances import UtteranceRow, WordRow

__all__ = [
    "bots_table",
    "media_table",
    "participants_table",
    "refuse_presigned_urls",
    "speech_table",
    "utterances_table",
    "words_table",
]


def bots_table(bot: BotRecord) -> pa.Table:
    """The one-row `bots` table of `bot`. Raises ValueError for a presigned URL."""
    row = bot.model_dump()
    # JSON text, not map<string,string>: values may be numbers or nested, and every reader
    # (pandas, DuckDB json_extract, Polars str.json_decode) handles a plain string column.
    row["custom_attributes"] = json.dumps(
        bot.custom_attributes, sort_keys=True, ensure_ascii=False, default=str
    )
    row["schema_version"] = SCHEMA_VERSION
    return _table("bots", [row])


def media_table(media: Sequence[ArchivedMedia], day: date) -> pa.Table:
    """The `media` rows of `media` on `day`. Raises ValueError for a presigned URL."""
    rows = []
    for m in media:
        row = m.model_dump(exclude={"copied"})
        name = m.participant_name
        row["participant_key"] = normalize_name(name) if name is not None else None
        row[PARTITION] = day
        rows.append(row)
    return _table("media", rows)


def participants_table(rows: Sequence[ParticipantRow], day: date) -> pa.Table:
    """The `participants` rows of `rows` on `day`. Raises ValueError for a presigned URL."""
    return _table("participants", [{**r.model_dump(), PARTITION: day} for r in rows])


def speech_table(rows: Sequence[SpeechRow], day: date) -> pa.Table:
    """The `speech` rows of `rows` on `day`. Raises ValueError for a presigned URL."""
    return _table("speech", [{**r.model_dump(), PARTITION: day} for r in rows])


def utterances_table(rows: Sequence[UtteranceRow], day: date) -> pa.Table:
    """The `utterances` rows of `rows` on `day`. Raises ValueError for a presigned URL."""
    return _table("utterances", [{**r.model_dump(), PARTITION: day} for r in rows])


def words_table(rows: Sequence[WordRow], day: date) -> pa.Table:
    """The `words` rows of `rows` on `day`. Raises ValueError for a presigned URL."""
    return _table("words", [{**r.model_dump(), PARTITION: day} for r in rows])


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
