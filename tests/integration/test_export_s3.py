"""`meetstream-catalog export` from an s3:// catalog whose media is on s3:// (moto on 127.0.0.1).

The catalog and the media both live in the bucket, as in production; the endpoint comes
from MEETSTREAM_S3_ENDPOINT_URL, as on a worker. Each output is loaded by the library it
is for where that library is installed (the `export-tests` group and torch: see
test_export.py; without them those tests skip with one line, or fail under
--require-export-libs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import s3fs
from serial_moto import serial_moto

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog import write_bot
from meetstream_catalog.catalog.records import bot_record
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.cli.main import main
from meetstream_catalog.roots import Root
from tests.integration.test_export import require

BOT = "6e0f6a8e-1111-4bbb-8ccc-000000000001"
DAY = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
SPEAKERS = {"Ann Lee": "AnnLee_1a2b3c", "Bo Chen": "BoChen_4d5e6f"}
TURNS = [("Ann Lee", 0.0, 12.0), ("Bo Chen", 12.0, 20.0), ("Ann Lee", 20.0, 30.0)]
LENGTH = 30.0  # the mixed WAV's length: 8,000 Hz x 30 s


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """Overrides the session's in-process moto: see serial_moto's docstring for why."""
    with serial_moto() as url:
        yield url


def _wav(seconds: float, rate: int = 8000) -> bytes:
    n = int(seconds * rate)
    header = (
        b"RIFF" + (36 + n).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
        + rate.to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
        + b"data" + n.to_bytes(4, "little")
    )  # fmt: skip
    return header + bytes([128]) * n


@pytest.fixture
def s3_catalog(
    s3_bucket: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, dict[str, bytes]]:
    """One meeting on s3: two per-speaker files, a mixed WAV, three turns; returns the
    catalog root and `{stream id: bytes}`."""
    options: dict[str, Any] = {"client_kwargs": {"endpoint_url": moto_endpoint}}
    fs = s3fs.S3FileSystem(**options)
    media_root, root = f"{s3_bucket}/media", f"s3://{s3_bucket}/catalog"
    blobs = {sid: f"{name} ".encode() * 5000 for name, sid in SPEAKERS.items()}
    media = []
    for name, sid in SPEAKERS.items():
        key = f"{BOT}/audio/{sid}/0.webm"
        fs.pipe_file(f"{media_root}/{key}", blobs[sid])
        media.append(
            ArchivedMedia(
                bot_id=BOT, kind="audio", participant_name=name, stream_id=sid, key=key,
                storage_uri=f"s3://{media_root}/{key}", bytes=len(blobs[sid]),
                sha256=hashlib.sha256(blobs[sid]).hexdigest(), codec="opus",
                sample_rate=48000, duration_seconds=sum(e - s for n, s, e in TURNS if n == name),
            )
        )  # fmt: skip
    wav = _wav(LENGTH)
    fs.pipe_file(f"{media_root}/{BOT}/mixed/audio.wav", wav)
    media.append(
        ArchivedMedia(
            bot_id=BOT, kind="mixed_audio", key=f"{BOT}/mixed/audio.wav", codec="pcm",
            storage_uri=f"s3://{media_root}/{BOT}/mixed/audio.wav", bytes=len(wav),
            sha256=hashlib.sha256(wav).hexdigest(),
        )
    )  # fmt: skip
    turns = [
        SpeechRow(
            bot_id=BOT, turn_index=i, participant_name=name, participant_key=name.lower(),
            device_id=f"devices/{100 + list(SPEAKERS).index(name)}",
            audio_stream_id=SPEAKERS[name], start_seconds=start, end_seconds=end,
            duration_seconds=end - start, started_at=None, chunks=1,
        )
        for i, (name, start, end) in enumerate(TURNS)
    ]  # fmt: skip
    bot = bot_record(bot_id=BOT, platform="zoom", outcome="captured", created_at=DAY, media=media)
    write_bot(Root(root, options), bot=bot, media=media, participants=[], speech=turns)
    monkeypatch.setenv("MEETSTREAM_S3_ENDPOINT_URL", moto_endpoint)
    return root, blobs


def test_rttm_from_an_s3_catalog(s3_catalog: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    root, _ = s3_catalog
    assert main(["export", "rttm", str(tmp_path), "--catalog-root", root]) == 0
    lines = (tmp_path / f"{BOT}.rttm").read_text().splitlines()
    assert [[*line.split()[3:5], line.split()[7]] for line in lines] == [
        ["0.000", "12.000", "Ann_Lee"], ["12.000", "8.000", "Bo_Chen"],
        ["20.000", "10.000", "Ann_Lee"],
    ]  # fmt: skip
    # The scored region: the mixed WAV's length, from its header read on s3.
    assert (tmp_path / f"{BOT}.uem").read_text() == f"{BOT} 1 0.000 {LENGTH:.3f}\n"
    assert (tmp_path / "meetstream.train.lst").read_text() == f"{BOT}\n"
    assert (tmp_path / "database.yml").is_file()


def test_audiofolder_from_an_s3_catalog_copies_the_files_from_s3(
    s3_catalog: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    root, blobs = s3_catalog
    assert main(["export", "audiofolder", str(tmp_path), "--catalog-root", root]) == 0
    rows = [json.loads(line) for line in (tmp_path / "metadata.jsonl").read_text().splitlines()]
    assert {(r["speaker"], r["duration"], r["talk_seconds"]) for r in rows} == {
        ("Ann_Lee", LENGTH, 22.0), ("Bo_Chen", LENGTH, 8.0)
    }  # fmt: skip
    for r in rows:  # streamed out of the bucket, byte for byte
        sid = SPEAKERS[r["participant_name"]]
        assert (tmp_path / r["file_name"]).read_bytes() == blobs[sid]


def test_lhotse_from_an_s3_catalog_points_at_the_s3_objects(
    s3_catalog: tuple[str, dict[str, bytes]], tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    require(pytestconfig, "lhotse")
    from lhotse import load_manifest

    root, _ = s3_catalog
    assert main(["export", "lhotse", str(tmp_path), "--catalog-root", root]) == 0
    recordings = load_manifest(tmp_path / "recordings.jsonl.gz")
    supervisions = load_manifest(tmp_path / "supervisions.jsonl.gz")
    assert len(recordings) == 3  # two speakers and the mixed audio
    assert {r.duration for r in recordings} == {LENGTH}  # from the WAV header, read on s3
    assert all(r.sources[0].type == "url" for r in recordings)
    assert all(r.sources[0].source.startswith(root.rsplit("/", 1)[0]) for r in recordings)
    assert sorted((s.speaker, s.start, s.duration) for s in supervisions) == [
        ("Ann_Lee", 0.0, 12.0), ("Ann_Lee", 20.0, 10.0), ("Bo_Chen", 12.0, 8.0)
    ]  # fmt: skip
