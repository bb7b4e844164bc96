"""`meetstream-catalog erase` with the catalog and the media on s3:// (moto on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import s3fs
from serial_moto import serial_moto

from meetstream_catalog.catalog import open_table, read_table
from meetstream_catalog.catalog.audit import erasure_events
from meetstream_catalog.catalog.erase_scope import PARTICIPANT_TABLES
from meetstream_catalog.catalog.history import ErasedVersionError
from meetstream_catalog.cli.main import main
from meetstream_catalog.roots import Root
from tests.integration.erase_catalog import build


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """Overrides the session's in-process moto: see serial_moto's docstring for why."""
    with serial_moto() as url:
        yield url


@pytest.fixture
def roots(s3_bucket: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Root, Root]:
    options: dict[str, Any] = {"client_kwargs": {"endpoint_url": moto_endpoint}}
    catalog = Root(f"s3://{s3_bucket}/catalog", options)
    media = Root(f"s3://{s3_bucket}/media", options)
    build(catalog, media)
    monkeypatch.setenv("MEETSTREAM_S3_ENDPOINT_URL", moto_endpoint)
    return catalog, media


def _rows_of_ann_in_bot_a(fs: s3fs.S3FileSystem, table_path: str) -> int:
    found = 0
    for path in fs.find(table_path):
        if not path.endswith(".parquet") or "/_delta_log/" in path:
            continue
        data = pq.read_table(path, filesystem=fs)
        bots = data["bot_id"].cast(pa.string())
        keys = data["participant_key"].cast(pa.string())
        mask = pc.and_kleene(pc.equal(bots, "bot-a"), pc.equal(keys, "ann lee"))
        found += int(pc.sum(pc.fill_null(mask, False)).as_py() or 0)
    return found


def test_a_participant_is_erased_from_s3_media_tables_history_and_exports(
    roots: tuple[Root, Root], tmp_path: Path
) -> None:
    catalog, media = roots
    fs = s3fs.S3FileSystem(**dict(media.options))
    assert main(["export", "rttm", str(tmp_path / "rttm"), "--catalog-root", catalog.url]) == 0
    old = open_table("words", catalog)
    assert old is not None
    old_version = old.version()
    others = {p for p in fs.find(media.url) if "ann-lee" not in p or "bot-b" in p}
    others = {p for p in others if "bot-a/mixed_audio" not in p}

    args = ["erase", "--participant", "Ann Lee", "--bot", "bot-a", "--yes", "--reason", "r-1"]
    assert main([*args, "--catalog-root", catalog.url, "--media-root", media.url]) == 0

    fs.invalidate_cache()
    assert set(fs.find(media.url)) == others
    for name in PARTICIPANT_TABLES:
        rows = read_table(name, catalog)
        assert ((rows.bot_id == "bot-a") & (rows.participant_key == "ann lee")).sum() == 0
        assert (rows.participant_key == "bob stone").sum() > 0
        assert _rows_of_ann_in_bot_a(fs, catalog.join(name)) == 0, name
    with pytest.raises(ErasedVersionError, match="no longer readable"):
        read_table("words", catalog, as_of=old_version)
    assert "Ann" not in (tmp_path / "rttm" / "bot-a.rttm").read_text()
    assert [e.state for e in erasure_events(catalog)] == ["started", "purging", "done"]
