"""The `erase` flow (the UI's deployment): a listing artifact without names, then the
erasure itself once confirmed with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from flows.erase import erase
from meetstream_catalog.catalog import read_table
from meetstream_catalog.catalog.audit import erasure_events, participant_digest
from meetstream_catalog.erase.expiry import expire_media
from meetstream_catalog.roots import Root
from tests.integration.erase_catalog import build

pytestmark = pytest.mark.usefixtures("prefect_api")


async def test_the_flow_lists_without_names_then_erases_when_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Root(str(tmp_path / "catalog"))
    build(catalog, Root(str(tmp_path / "media")))
    monkeypatch.setenv("MEETSTREAM_CATALOG_ROOT", str(tmp_path / "catalog"))
    monkeypatch.setenv("MEETSTREAM_MEDIA_ROOT", str(tmp_path / "media"))

    assert await erase(bot_id="bot-a", participant="Ann Lee") is None
    async with get_client() as client:
        latest = await client.read_latest_artifacts()
    [listing] = [a for a in latest if a.key == "erasure-plan"]
    text = str(listing.data)
    assert "ann" not in text.lower()
    assert f"sha256:{participant_digest('ann lee')[:12]}" in text
    assert "files (3)" in text
    assert (read_table("speech", catalog).participant_key == "ann lee").sum() == 2

    with pytest.raises(ValueError, match="needs a reason"):
        await erase(bot_id="bot-a", participant="Ann Lee", confirm=True)
    report = await erase(bot_id="bot-a", participant="Ann Lee", confirm=True, reason="DSR-1")
    assert report is not None
    assert report.files_removed == 3
    assert (read_table("speech", catalog).participant_key == "ann lee").sum() == 1


async def test_nightly_maintenance_deletes_old_media_and_keeps_the_rows_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.maintenance import maintain_catalog

    catalog = Root(str(tmp_path / "catalog"))
    build(catalog, Root(str(tmp_path / "media")))  # meetings of 2025-03-14
    monkeypatch.setenv("MEETSTREAM_CATALOG_ROOT", str(tmp_path / "catalog"))
    monkeypatch.setenv("MEETSTREAM_MEDIA_ROOT", str(tmp_path / "media"))
    files = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]

    await maintain_catalog(vacuum=False, media_retention_days=100_000)  # nothing that old
    assert all(p.exists() for p in files)
    monkeypatch.setenv("MEETSTREAM_MEDIA_RETENTION_DAYS", "30")
    await maintain_catalog(vacuum=False)

    assert not [p for p in files if p.exists()]
    media = read_table("media", catalog)
    assert len(media) == 10  # the rows stay
    assert media.media_erased_at.notna().all()
    [done] = [e for e in erasure_events(catalog) if e.state == "done"]
    assert (done.subject, done.files_removed, set(done.bot_ids)) == (
        "media_retention",
        10,
        {"bot-a", "bot-b"},
    )
    assert expire_media(catalog, catalog, older_than_days=30).erasure_id is None  # all done
