"""The Delta catalog writer and reader on s3://, against a moto server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import s3fs
from serial_moto import serial_moto

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog import (
    dataset,
    existing_media_checksums,
    open_table,
    read_table,
    write_bot,
)
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.maintenance import maintain
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.catalog.schema import CAPTURE_TABLES
from meetstream_catalog.roots import Root

DAY = dt.date(2025, 3, 14)
OTHER_DAY = dt.date(2025, 3, 15)
ROOT = "s3://catalog-test/prefix/catalog"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with serial_moto() as url:  # why not ThreadedMotoServer: see serial_moto's docstring
        yield url


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


def write(options: dict[str, Any], bot_id: str, day: dt.date = DAY, n: int = 2) -> None:
    people = [
        ParticipantRow(
            bot_id=bot_id, participant_key="ann", participant_name="Ann", match="video_only"
        )
    ]
    write_bot(
        Root(ROOT, options),
        bot=BotRecord(bot_id=bot_id, meeting_date=day),
        media=media_of(bot_id, n),
        participants=people,
    )


def counts(options: dict[str, Any]) -> dict[str, int]:
    return {t: len(read_table(t, Root(ROOT, options))) for t in CAPTURE_TABLES}


def test_round_trip_on_s3_uses_the_same_layout(options: dict[str, Any]) -> None:
    write(options, "b1")
    fs = s3fs.S3FileSystem(**options)
    fs.invalidate_cache()
    assert fs.exists(f"{ROOT[5:]}/media/_delta_log/00000000000000000000.json")
    assert fs.glob(f"{ROOT[5:]}/media/meeting_date=2025-03-14/*.parquet")
    assert counts(options) == {"bots": 1, "media": 2, "participants": 1, "speech": 0}
    assert dataset("media", Root(ROOT, options)).count_rows() == 2
    assert existing_media_checksums(Root(ROOT, options), "b1") == {
        "b1/0.webm": "0" * 64,
        "b1/1.webm": "1" * 64,
    }


def test_an_empty_s3_catalog_reads_empty(options: dict[str, Any]) -> None:
    assert counts(options) == {"bots": 0, "media": 0, "participants": 0, "speech": 0}


def test_rewrites_and_date_moves_leave_exactly_the_new_rows(options: dict[str, Any]) -> None:
    write(options, "b1", DAY, n=3)
    write(options, "b2", DAY, n=1)
    write(options, "b1", OTHER_DAY, n=2)
    media = read_table("media", Root(ROOT, options))
    assert media.groupby(["bot_id", "meeting_date"]).size().to_dict() == {
        ("b1", OTHER_DAY): 2,
        ("b2", DAY): 1,
    }


def test_concurrent_bots_of_one_day_on_s3(options: dict[str, Any]) -> None:
    bots = [f"bot-{i:02d}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda b: write(options, b, n=2), bots))
    assert counts(options) == {"bots": 8, "media": 16, "participants": 8, "speech": 0}


def test_recapture_after_maintenance_on_s3(options: dict[str, Any]) -> None:
    from meetstream_catalog.catalog.events import append_events, event_row

    now = dt.datetime.now(dt.UTC)
    for bot in ("b1", "b2", "b3"):
        write(options, bot, n=2)
    for name in ("bot.joining", "bot.done"):  # the webhook receiver's appends
        append_events(Root(ROOT, options), [event_row({"bot_id": "b1", "event": name}, now)])
    reports = maintain(Root(ROOT, options), retention_days=0)
    assert {r.table: r.files_compacted for r in reports} == {
        "bots": 3,
        "media": 3,
        "participants": 3,
        "speech": 0,  # never written here: maintenance of an absent table is a no-op
        "utterances": 0,
        "words": 0,
        "bot_events": 2,
        "intents": 0,  # written by captures only
        "exports": 0,  # written by export and erase only
        "erasures": 0,
    }
    assert len(read_table("bot_events", Root(ROOT, options))) == 2
    write(options, "b1", n=1)
    media = read_table("media", Root(ROOT, options))
    assert media.groupby("bot_id").size().to_dict() == {"b1": 1, "b2": 2, "b3": 2}
    table = open_table("media", Root(ROOT, options))
    assert table is not None
    assert [c["operation"] for c in table.history(4)][1:] == [
        "VACUUM END",
        "VACUUM START",
        "OPTIMIZE",
    ]
