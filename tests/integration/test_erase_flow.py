"""The `erase` flow (the UI's deployment): a listing artifact without names, then the
erasure itself once confirmed with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from flows.erase import erase
from meetstream_catalog.catalog import read_table
from meetstream_catalog.catalog.audit import participant_digest
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
