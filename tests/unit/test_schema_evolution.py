"""Schema evolution: a nullable column added by a newer writer merges into the Delta table.

Version N+1 is fabricated in the test (the product schema stays as it is): the
`participants` schema plus a nullable `language` column. Bot `old` is written by the real
writer, bot `new` by the real writer with the schema module's table schema patched; then
every reader documented in docs/catalog.md must see both rows with one schema, the old row
with `language` null, and an old writer must still be able to commit.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from meetstream_catalog.catalog import arrow_tables, dataset, query, read_table, write_bot
from meetstream_catalog.catalog import schema as catalog_schema
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.catalog.schema import TABLE_SCHEMAS, assert_compatible

V1 = TABLE_SCHEMAS["participants"]
V2 = V1.append(pa.field("language", pa.string()))


def person(bot_id: str) -> ParticipantRow:
    return ParticipantRow(
        bot_id=bot_id, participant_key="ann", participant_name="Ann", match="audio_only"
    )


def write(root: str, bot_id: str, day: dt.date) -> None:
    bot = BotRecord(bot_id=bot_id, meeting_date=day)
    write_bot(root, bot=bot, media=[], participants=[person(bot_id)])


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A catalog with bot `old` written by the current code and `new` by a newer one."""
    root = str(tmp_path / "catalog")
    write(root, "old", dt.date(2025, 3, 14))
    assert_compatible(V1, V2)
    with monkeypatch.context() as patch:
        patch.setitem(catalog_schema.TABLE_SCHEMAS, "participants", V2)
        original = arrow_tables.participants_table

        def v2_table(rows: list[ParticipantRow], day: dt.date) -> pa.Table:
            table = original(rows, day)
            return table.set_column(
                table.schema.get_field_index("language"),
                "language",
                pa.array(["de"] * table.num_rows, pa.string()),
            )

        patch.setattr("meetstream_catalog.catalog.write.participants_table", v2_table)
        write(root, "new", dt.date(2025, 3, 15))
    return root


def test_the_table_schema_gained_the_nullable_column(root: str) -> None:
    schema = pa.schema(DeltaTable(f"{root}/participants").schema().to_arrow())
    assert schema.field("language").nullable


def test_a_newer_reader_sees_both_rows_with_the_new_column_null_for_old_rows(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(catalog_schema.TABLE_SCHEMAS, "participants", V2)
    frame = read_table("participants", root).sort_values("bot_id")
    assert frame["bot_id"].tolist() == ["new", "old"]
    assert frame["language"].tolist()[0] == "de"
    assert pd.isna(frame["language"].tolist()[1])
    only_new = read_table("participants", root, filters=[("language", "=", "de")])
    assert only_new["bot_id"].tolist() == ["new"]


def test_an_older_reader_sees_the_new_column_appended(root: str) -> None:
    frame = read_table("participants", root)
    assert sorted(frame["bot_id"]) == ["new", "old"]
    assert list(frame.columns) == [*V1.names, "language"]


def test_an_older_writer_still_commits_and_its_rows_read_null(root: str) -> None:
    write(root, "older-again", dt.date(2025, 3, 16))
    frame = read_table("participants", root).set_index("bot_id")
    assert pd.isna(frame.loc["older-again", "language"])
    assert frame.loc["new", "language"] == "de"


def test_the_query_views_and_tables_show_the_merged_schema(root: str) -> None:
    sql = "select bot_id, language from participants order by bot_id"
    assert query.run_query(sql, root).to_pylist() == [
        {"bot_id": "new", "language": "de"},
        {"bot_id": "old", "language": None},
    ]
    info = {i.name: i for i in query.describe_tables(root)}["participants"]
    assert info.columns[-1].name == "language"


def test_every_reader_of_the_delta_table_sees_the_merged_schema(root: str) -> None:
    uri = f"{root}/participants"
    polars = pl.scan_delta(uri).sort("bot_id").collect()
    assert polars["language"].to_list() == ["de", None]
    assert polars.schema["meeting_date"] == pl.Date
    pandas = DeltaTable(uri).to_pandas().sort_values("bot_id")
    assert pandas["language"].tolist()[0] == "de"
    con = duckdb.connect()
    con.register("participants", dataset("participants", root))
    assert con.execute("select count(language) from participants").fetchall() == [(1,)]
