"""Compaction on s3:// (moto on 127.0.0.1) and the `compact-catalog` flow on a Prefect API."""

from __future__ import annotations

import datetime as dt
import gc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
import s3fs

from tasks import catalog, compaction
from tasks.catalog_schema import TABLE_SCHEMAS, BotRecord
from tasks.models import ArchivedMedia

CLOSED = dt.date(2025, 3, 7)
TODAY = dt.date(2025, 3, 10)


def write(root: str, bot_id: str, files: int, options: dict[str, Any], tag: str = "a") -> None:
    media = [
        ArchivedMedia(
            bot_id=bot_id,
            kind="audio",
            participant_name=f"P{i}",
            key=f"{bot_id}/{tag}/{i}.wav",
            storage_uri=f"s3://media/{bot_id}/{tag}/{i}.wav",
            bytes=i,
            sha256=f"{tag}{i:063d}",
        )
        for i in range(files)
    ]
    record = BotRecord(bot_id=bot_id, meeting_date=CLOSED)
    catalog.write_bot(root, bot=record, media=media, participants=[], storage_options=options)


def live_rows(root: str, table: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    fs = s3fs.S3FileSystem(**options) if root.startswith("s3://") else None
    files = compaction.live_files(root, table, storage_options=options)
    if fs is None:
        files = [f.removeprefix("file://") for f in files]
    data = ds.dataset(files, schema=TABLE_SCHEMAS[table], format="parquet", filesystem=fs)
    rows: list[dict[str, Any]] = data.to_table().to_pylist()
    return rows


@pytest.fixture
def s3(s3_bucket: str, moto_endpoint: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield f"s3://{s3_bucket}/catalog", {"client_kwargs": {"endpoint_url": moto_endpoint}}
    # Dropped s3fs instances close their pooled sockets only when collected; collect them
    # here, where their ResourceWarning is expected, not in whichever test runs next.
    s3fs.S3FileSystem.clear_instance_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_compaction_on_s3_keeps_every_row_once_and_is_idempotent(
    s3: tuple[str, dict[str, Any]],
) -> None:
    root, options = s3
    for i in range(4):
        write(root, f"bot-{i}", i + 1, options)

    first = compaction.compact(root, today=TODAY, storage_options=options)
    second = compaction.compact(root, today=TODAY, storage_options=options)

    # No participants were written: their schema-only files are just removed.
    assert {(r.table, r.action) for r in first} == {
        ("bots", "compacted"),
        ("media", "compacted"),
        ("participants", "cleaned"),
    }
    assert {r.action for r in second} == {"unchanged"}
    assert len(live_rows(root, "media", options)) == 1 + 2 + 3 + 4
    assert len(catalog.read_table("media", root, storage_options=options)) == 10
    fs = s3fs.S3FileSystem(**options)
    fs.invalidate_cache()
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(f"{root[5:]}/media/meeting_date={CLOSED}")]
    assert len(names) == 1
    assert names[0].startswith(catalog.COMPACTED_PREFIX)


def test_a_recapture_on_s3_after_compaction_ends_with_exactly_its_new_rows(
    s3: tuple[str, dict[str, Any]],
) -> None:
    root, options = s3
    for i in range(3):
        write(root, f"bot-{i}", 2, options)
    compaction.compact(root, today=TODAY, storage_options=options)

    write(root, "bot-1", 1, options, tag="new")

    media = catalog.read_table("media", root, storage_options=options)
    assert sorted(media[media.bot_id == "bot-1"].key) == ["bot-1/new/0.wav"]
    assert len(media) == 5


async def test_the_compact_catalog_flow_compacts_and_reports(
    prefect_api: None, tmp_path: Path
) -> None:
    from flows.maintenance import compact_catalog

    root = f"file://{tmp_path / 'catalog'}"
    for i in range(3):
        write(root, f"bot-{i}", 2, {})

    reports = await compact_catalog(catalog_root=root, older_than_days=1, min_rows_per_group=2)
    again = await compact_catalog(catalog_root=root)

    assert {(r["table"], r["action"]) for r in reports} == {
        ("bots", "compacted"),
        ("media", "compacted"),
        ("participants", "cleaned"),
    }
    assert {r["action"] for r in again} == {"unchanged"}
    assert len(live_rows(root, "media", {})) == 6
