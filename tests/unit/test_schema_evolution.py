"""Schema evolution: files of two schema versions read as one table by every reader.

Version 2 is fabricated in the test (the product schema stays at version 1): the
`participants` schema plus a nullable `language` column. A v1 file is written by the real
writer, a v2 file by the real writer with the schema module's table schema patched, and
then every reader documented in docs/catalog.md must see both rows with one schema.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks import catalog_schema, query
from tasks.catalog import read_table, write_bot
from tasks.catalog_schema import (
    TABLE_SCHEMAS,
    VERSION_KEY,
    BotRecord,
    assert_compatible,
    dataset_schema,
)
from tasks.join import ParticipantRow

V1 = TABLE_SCHEMAS["participants"]
V2 = V1.append(pa.field("language", pa.string())).with_metadata({**V1.metadata, VERSION_KEY: b"2"})


def person(bot_id: str) -> ParticipantRow:
    return ParticipantRow(
        bot_id=bot_id, participant_key="ann", participant_name="Ann", match="audio_only"
    )


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A catalog with bot `old` written at v1 and bot `new` at v2 (with language 'de')."""
    root = str(tmp_path / "catalog")
    write_bot(
        root,
        bot=BotRecord(bot_id="old", meeting_date=dt.date(2025, 3, 14)),
        media=[],
        participants=[person("old")],
    )
    assert_compatible(V1, V2)
    with monkeypatch.context() as patch:
        patch.setitem(catalog_schema.TABLE_SCHEMAS, "participants", V2)
        # The v1 row model has no `language`; the v2 writer would fill it, here a wrapper
        # adds it so the real writer (guard, atomic publish) produces the v2 file.
        original = catalog_schema.participants_table

        def v2_table(rows: list[ParticipantRow]) -> pa.Table:
            table = original(rows).drop_columns(["language"])
            return pa.Table.from_pylist(
                [{**r, "language": "de"} for r in table.to_pylist()], schema=V2
            )

        patch.setattr("tasks.catalog.participants_table", v2_table)
        write_bot(
            root,
            bot=BotRecord(bot_id="new", meeting_date=dt.date(2025, 3, 15)),
            media=[],
            participants=[person("new")],
        )
    return root


def files(root: str) -> list[Path]:
    return sorted(Path(root, "participants").glob("*/*.parquet"))


def test_the_fixture_holds_one_file_of_each_version(root: str) -> None:
    versions = [pq.read_schema(f).metadata[VERSION_KEY] for f in files(root)]
    assert versions == [b"1", b"2"]


def test_a_v2_reader_sees_both_files_with_the_new_column_null_for_old_rows(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(catalog_schema.TABLE_SCHEMAS, "participants", V2)
    frame = read_table("participants", root).sort_values("bot_id")
    assert frame["bot_id"].tolist() == ["new", "old"]
    assert frame["language"].tolist()[0] == "de"
    assert pd.isna(frame["language"].tolist()[1])
    only_new = read_table("participants", root, filters=[("language", "=", "de")])
    assert only_new["bot_id"].tolist() == ["new"]


def test_a_v1_reader_ignores_the_column_it_does_not_know(root: str) -> None:
    frame = read_table("participants", root)
    assert sorted(frame["bot_id"]) == ["new", "old"]
    assert "language" not in frame.columns


def test_the_query_views_use_the_unified_schema(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(catalog_schema.TABLE_SCHEMAS, "participants", V2)
    sql = "select bot_id, language from participants order by bot_id"
    assert query.run_query(sql, root).to_pylist() == [
        {"bot_id": "new", "language": "de"},
        {"bot_id": "old", "language": None},
    ]
    info = {i.name: i for i in query.describe_tables(root)}["participants"]
    assert info.file_versions == (1, 2)
    assert info.columns[-1].name == "language"


def test_duckdb_raw_needs_union_by_name(root: str) -> None:
    pattern = f"{root}/participants/**/*.parquet"
    sql = (
        "select count(language) from read_parquet(?, hive_partitioning = true, "
        "union_by_name = true)"
    )
    assert duckdb.execute(sql, [pattern]).fetchall() == [(1,)]


def test_polars_raw_needs_the_declared_schema(root: str) -> None:
    pattern = f"{root}/participants/**/*.parquet"
    schema = pl.from_arrow(V2.empty_table()).schema
    frame = (
        pl.scan_parquet(pattern, hive_partitioning=True, schema=schema, missing_columns="insert")
        .sort("bot_id")
        .collect()
    )
    assert frame["language"].to_list() == ["de", None]
    assert frame.schema["meeting_date"] == pl.Date


def test_pandas_raw_needs_the_declared_schema(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(catalog_schema.TABLE_SCHEMAS, "participants", V2)
    frame = pd.read_parquet(
        f"{root}/participants", schema=dataset_schema("participants"), partitioning="hive"
    ).sort_values("bot_id")
    assert frame["language"].tolist()[0] == "de"
    assert len(frame) == 2
