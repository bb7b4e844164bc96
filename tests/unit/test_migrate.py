"""`catalog migrate`: the previous hand-made layout becomes Delta tables, once, exactly.

`old_layout` writes what the previous code wrote (its writer and compaction logic, copied
here as a fixture, never into product code): per-bot files `bot-<id>.parquet` without a
`meeting_date` column, and `part-compacted-*.parquet` files whose Parquet metadata lists
their sources (`meetstream_catalog.compacted_from`: file, sha256, bot_id, rows).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from meetstream_catalog.catalog import read_table, write_bot
from meetstream_catalog.catalog.migrate import PREVIOUS_LAYOUT_TABLES, migrate
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.catalog.schema import PARTITION, TABLE_SCHEMAS
from meetstream_catalog.cli.main import main

DAY, OTHER_DAY = dt.date(2025, 3, 7), dt.date(2025, 3, 8)
SOURCES_KEY = b"meetstream_catalog.compacted_from"


def v1_schema(table: str) -> pa.Schema:
    return TABLE_SCHEMAS[table].remove(TABLE_SCHEMAS[table].get_field_index(PARTITION))


def old_rows(table: str, bot_id: str, n: int, tag: str = "a") -> pa.Table:
    schema = v1_schema(table)
    count = 1 if table == "bots" else n
    rows = []
    for i in range(count):
        row: dict[str, object] = {f.name: None for f in schema}
        row.update(bot_id=bot_id, kind="audio", key=f"{bot_id}/{tag}/{i}", match="both")
        row.update(participant_key=f"p{i}", run_id=tag)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema)


def old_file(root: Path, table: str, day: dt.date, name: str, data: pa.Table) -> bytes:
    path = root / table / f"{PARTITION}={day.isoformat()}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, path, compression="zstd")
    return path.read_bytes()


def compacted(root: Path, table: str, day: dt.date, sources: dict[str, pa.Table]) -> None:
    """What the old compaction published: merged rows plus the sources' digests."""
    directory = root / table / f"{PARTITION}={day.isoformat()}"
    entries = []
    for name, data in sources.items():
        raw = (directory / name).read_bytes()
        ids = sorted(set(data["bot_id"].to_pylist()))
        entries.append(
            {
                "file": name,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "bot_id": ids[0] if len(ids) == 1 else None,
                "rows": data.num_rows,
            }
        )
    merged = pa.concat_tables(sources.values())
    meta = {SOURCES_KEY: json.dumps(entries).encode()}
    pq.write_table(merged.replace_schema_metadata(meta), directory / "part-compacted-1.parquet")


@pytest.fixture
def old_layout(tmp_path: Path) -> Path:
    """b1, b2 compacted on DAY; b2's per-bot file left behind by a crash (superseded);
    b3 re-captured after compaction (new per-bot file, stale rows still in the compacted
    file); b4 only as a per-bot file on OTHER_DAY."""
    root = tmp_path / "catalog"
    for table in PREVIOUS_LAYOUT_TABLES:
        sources = {}
        for bot, n in (("b1", 2), ("b2", 3), ("b3", 1)):
            data = old_rows(table, bot, n)
            old_file(root, table, DAY, f"bot-{bot}.parquet", data)
            sources[f"bot-{bot}.parquet"] = data
        compacted(root, table, DAY, sources)
        for bot in ("b1", "b3"):  # the old compaction deleted these sources...
            (root / table / f"{PARTITION}={DAY}" / f"bot-{bot}.parquet").unlink()
        # ...crashed before deleting b2's; then b3 was re-captured (new bytes).
        old_file(root, table, DAY, "bot-b3.parquet", old_rows(table, "b3", 4, tag="new"))
        old_file(root, table, OTHER_DAY, "bot-b4.parquet", old_rows(table, "b4", 2))
    return root


def snapshot(root: str) -> dict[str, list[tuple[str, str]]]:
    found = {}
    for table in PREVIOUS_LAYOUT_TABLES:
        frame = read_table(table, root)
        column = "run_id" if table == "bots" else ("key" if table == "media" else "participant_key")
        found[table] = sorted(zip(frame["bot_id"], frame[column].astype(str), strict=True))
    return found


def test_migration_keeps_each_live_row_once(old_layout: Path) -> None:
    root = str(old_layout)
    migrate(root)
    media = read_table("media", root)
    assert media.groupby("bot_id").size().to_dict() == {"b1": 2, "b2": 3, "b3": 4, "b4": 2}
    assert set(media[media.bot_id == "b3"]["key"].str.split("/").str[1]) == {"new"}
    bots = read_table("bots", root).set_index("bot_id")
    assert bots.loc["b4", "meeting_date"] == OTHER_DAY
    assert list(bots.index.sort_values()) == ["b1", "b2", "b3", "b4"]
    assert DeltaTable(f"{root}/media").metadata().partition_columns == [PARTITION]
    assert not list(old_layout.glob("*/meeting_date=*/bot-*.parquet"))
    assert list(old_layout.glob("_previous_layout/media/meeting_date=*/*.parquet"))


def test_running_the_migration_twice_changes_nothing(old_layout: Path) -> None:
    root = str(old_layout)
    migrate(root)
    versions = {t: DeltaTable(f"{root}/{t}").version() for t in PREVIOUS_LAYOUT_TABLES}
    before = snapshot(root)
    second = migrate(root)
    assert {t: DeltaTable(f"{root}/{t}").version() for t in PREVIOUS_LAYOUT_TABLES} == versions
    assert snapshot(root) == before
    assert not any(r.committed for r in second)


def test_bots_already_written_as_delta_keep_their_new_rows(old_layout: Path) -> None:
    root = str(old_layout)
    write_bot(root, bot=BotRecord(bot_id="b1", meeting_date=DAY), media=[], participants=[])
    reports = {r.table: r for r in migrate(root)}
    assert reports["media"].bots_kept_from_delta == 1
    assert "b1" not in set(read_table("media", root)["bot_id"])
    assert sorted(read_table("bots", root)["bot_id"]) == ["b1", "b2", "b3", "b4"]


def test_the_migrate_command_reports_per_table(
    old_layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalog", "migrate", "--catalog-root", str(old_layout)]) == 0
    out = capsys.readouterr().out
    assert "media: 4 old files (1 superseded), 11 rows of 4 bots committed" in out
