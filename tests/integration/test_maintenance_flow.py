"""The `maintain-catalog` flow on a Prefect API: compaction, vacuum, checkpoint, artifact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from deltalake import DeltaTable

from meetstream_catalog import catalog
from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog.records import BotRecord


def write(root: str, bot_id: str, files: int) -> None:
    media = [
        ArchivedMedia(
            bot_id=bot_id,
            kind="audio",
            participant_name=f"P{i}",
            key=f"{bot_id}/{i}.wav",
            storage_uri=f"s3://media/{bot_id}/{i}.wav",
            bytes=i,
            sha256=f"{i:064d}",
        )
        for i in range(files)
    ]
    record = BotRecord(bot_id=bot_id, meeting_date=dt.datetime.now(dt.UTC).date())
    catalog.write_bot(root, bot=record, media=media, participants=[])


async def test_the_maintain_catalog_flow_compacts_today_vacuums_and_reports(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client

    from flows.maintenance import maintain_catalog

    root = f"file://{tmp_path / 'catalog'}"
    monkeypatch.setenv("MEETSTREAM_CATALOG_ROOT", root)
    for i in range(3):
        write(root, f"bot-{i}", 2)

    reports = await maintain_catalog(vacuum=False)
    again = await maintain_catalog(vacuum_retention_days=0)

    by_table = {r.table: r for r in reports}
    assert by_table["media"].files_compacted == 3  # today's small files, one per bot
    assert by_table["media"].files_written == 1
    assert by_table["media"].files_vacuumed == 0
    # `speech` (no speech rows), `utterances`/`words` (no transcript), `bot_events` (no
    # webhooks) and `intents` (no capture) were never written: reported, no versions, untouched.
    absent = {r.table for r in reports if r.version_before is None}
    assert absent == {"speech", "utterances", "words", "bot_events", "intents"} | {
        "exports",
        "erasures",  # no export run, no erasure
    }
    assert all(r.checkpoint for r in reports if r.version_before is not None)
    assert {r.table: r.files_vacuumed for r in again}["media"] == 3
    assert {r.table: r.files_compacted for r in again} == {r.table: 0 for r in again}
    assert len(catalog.read_table("media", root)) == 6
    media = DeltaTable(f"{tmp_path}/catalog/media")
    assert len(media.file_uris()) == 1
    async with get_client() as client:
        artifact = await client.read_latest_artifacts()
    assert any(a.key == "catalog-maintenance" for a in artifact)
