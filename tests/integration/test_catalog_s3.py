"""The catalog writer and reader on s3://, against a moto server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
from moto.server import ThreadedMotoServer

from tasks.catalog import dataset, existing_media_checksums, read_table, write_bot
from tasks.catalog_schema import TABLES, VERSION_KEY, BotRecord
from tasks.join import ParticipantRow
from tasks.models import ArchivedMedia

DAY = dt.date(2025, 3, 14)
OTHER_DAY = dt.date(2025, 3, 15)
ROOT = "s3://catalog-test/prefix/catalog"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def options(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    httpx.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    s3fs.S3FileSystem.clear_instance_cache()
    opts: dict[str, Any] = {"client_kwargs": {"endpoint_url": endpoint}}
    s3fs.S3FileSystem(**opts).mkdir("catalog-test")
    return opts


def media_of(bot_id: str, n: int) -> list[ArchivedMedia]:
    return [
        ArchivedMedia(
            bot_id=bot_id,
            kind="webcam",
            participant_name="Ann",
            stream_id=f"v{i}",
            segment_index=i,
            key=f"{bot_id}/{i}.webm",
            storage_uri=f"s3://media/{bot_id}/{i}.webm",
            bytes=10,
            sha256=str(i) * 64,
        )
        for i in range(n)
    ]


def write(options: dict[str, Any], bot_id: str, day: dt.date = DAY, n: int = 2) -> dict[str, str]:
    people = [
        ParticipantRow(
            bot_id=bot_id, participant_key="ann", participant_name="Ann", match="video_only"
        )
    ]
    return write_bot(
        ROOT,
        bot=BotRecord(bot_id=bot_id, meeting_date=day),
        media=media_of(bot_id, n),
        participants=people,
        storage_options=options,
    )


def counts(options: dict[str, Any]) -> dict[str, int]:
    return {t: len(read_table(t, ROOT, storage_options=options)) for t in TABLES}


def test_round_trip_on_s3_uses_the_same_layout(options: dict[str, Any]) -> None:
    written = write(options, "b1")
    assert written["media"] == f"{ROOT}/media/meeting_date=2025-03-14/bot-b1.parquet"
    fs = s3fs.S3FileSystem(**options)
    with fs.open(written["bots"], "rb") as f:
        assert pq.read_metadata(f).metadata[VERSION_KEY] == b"1"
    assert counts(options) == {"bots": 1, "media": 2, "participants": 1}
    assert dataset("media", ROOT, options).count_rows() == 2
    assert existing_media_checksums(ROOT, "b1", options) == {
        "b1/0.webm": "0" * 64,
        "b1/1.webm": "1" * 64,
    }


def test_an_empty_s3_catalog_reads_empty(options: dict[str, Any]) -> None:
    assert counts(options) == {"bots": 0, "media": 0, "participants": 0}


def test_rewrites_and_date_moves_leave_exactly_the_new_rows(options: dict[str, Any]) -> None:
    write(options, "b1", DAY, n=3)
    write(options, "b2", DAY, n=1)
    write(options, "b1", OTHER_DAY, n=2)
    media = read_table("media", ROOT, storage_options=options)
    assert media.groupby(["bot_id", "meeting_date"]).size().to_dict() == {
        ("b1", OTHER_DAY): 2,
        ("b2", DAY): 1,
    }


def test_concurrent_bots_of_one_day_on_s3(options: dict[str, Any]) -> None:
    bots = [f"bot-{i:02d}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda b: write(options, b, n=2), bots))
    assert counts(options) == {"bots": 20, "media": 40, "participants": 20}


def test_recapture_of_a_compacted_day_on_s3(options: dict[str, Any]) -> None:
    for bot in ("b1", "b2"):
        write(options, bot, n=2)
    fs = s3fs.S3FileSystem(**options)
    for table in TABLES:  # fabricate what the compaction flow will produce
        part = f"{ROOT}/{table}/meeting_date=2025-03-14"
        files = sorted(fs.glob(f"{part}/bot-*.parquet"))
        merged = pa.concat_tables(pq.read_table(pa.BufferReader(fs.cat_file(f))) for f in files)
        with fs.open(f"{part}/part-compacted-0001.parquet", "wb") as out:
            pq.write_table(merged, out)
        fs.rm(files)
    write(options, "b1", n=1)
    media = read_table("media", ROOT, storage_options=options)
    assert media.groupby("bot_id").size().to_dict() == {"b1": 1, "b2": 2}
