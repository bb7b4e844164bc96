"""The reader and the query views on s3:// (moto on 127.0.0.1) behave as on local disk."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import s3fs
from serial_moto import serial_moto

from meetstream_catalog.catalog import query, read_table, write_bot
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.cli.main import main
from meetstream_catalog.roots import Root

DAYS = (dt.date(2025, 3, 14), dt.date(2025, 3, 15))


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """Overrides the session's in-process moto: see serial_moto's docstring for why."""
    with serial_moto() as url:
        yield url


def fill(root: str, options: dict[str, Any] | None) -> None:
    for number, day in enumerate(DAYS):
        bot_id = f"bot-{number}"
        person = ParticipantRow(
            bot_id=bot_id, participant_key="ann", participant_name="Ann", match="both"
        )
        bot = BotRecord(bot_id=bot_id, meeting_date=day, platform="zoom")
        write_bot(Root(root, options or {}), bot=bot, media=[], participants=[person])


@pytest.fixture
def roots(s3_bucket: str, moto_endpoint: str, tmp_path: Path) -> dict[str, Any]:
    options = {"client_kwargs": {"endpoint_url": moto_endpoint}}
    s3_root, local_root = f"s3://{s3_bucket}/catalog", str(tmp_path / "catalog")
    fill(s3_root, options)
    fill(local_root, None)
    return {"s3": (s3_root, options), "local": (local_root, None)}


def test_read_table_filters_give_the_same_rows_on_s3_and_local(roots: dict[str, Any]) -> None:
    seen = {}
    for kind, (root, options) in roots.items():
        frame = read_table(
            "participants",
            Root(root, options or {}),
            filters=[("meeting_date", "=", "2025-03-15"), ("participant_name", "=", "Ann")],
            columns=["bot_id", "meeting_date"],
        )
        seen[kind] = frame.to_dict("records")
    assert seen["s3"] == seen["local"] == [{"bot_id": "bot-1", "meeting_date": DAYS[1]}]


def test_a_partition_filter_skips_other_days_on_s3(
    roots: dict[str, Any], moto_endpoint: str
) -> None:
    root, options = roots["s3"]
    fs = s3fs.S3FileSystem(**options)
    for path in fs.glob(f"{root[5:]}/bots/meeting_date=2025-03-15/*.parquet"):
        fs.pipe_file(path, b"garbage")  # reading this partition would now fail
    frame = read_table("bots", Root(root, options), filters=[("meeting_date", "<=", "2025-03-14")])
    assert sorted(frame["bot_id"]) == ["bot-0"]
    sql = "select bot_id from bots where meeting_date = date '2025-03-14'"
    assert query.run_query(sql, Root(root, options)).to_pylist() == [{"bot_id": "bot-0"}]


def test_query_and_tables_commands_work_on_s3_from_settings(
    roots: dict[str, Any],
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, _ = roots["s3"]
    monkeypatch.setenv("MEETSTREAM_CATALOG_ROOT", root)
    monkeypatch.setenv("MEETSTREAM_S3_ENDPOINT_URL", moto_endpoint)
    sql = "select meeting_date, count(*) as n from participants group by 1 order by 1"
    assert main(["query", sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out == "meeting_date,n\n2025-03-14,1\n2025-03-15,1\n"
    assert main(["tables"]) == 0
    assert "bots: 2 rows in 2 files, 2 partitions" in capsys.readouterr().out
