"""`meetstream-catalog export` on the demo catalog, loaded by the real libraries.

lhotse, datasets and torchcodec are the `export-tests` extra (installed by `make install`;
FFmpeg's libraries come from Debian in `.ci/run`). They are pinned to linux/x86_64/CPython
3.11, where torch's CPU wheel exists; elsewhere these tests skip with that reason rather
than pass unseen.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import pytest

from meetstream_catalog.cli.main import main

SUPPORTED = (
    sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info[:2] == (3, 11)
)
needs_libs = pytest.mark.skipif(
    not SUPPORTED, reason="lhotse/datasets test extra is pinned to linux x86_64 CPython 3.11"
)
MEET = "platform = 'google_meet'"
# The demo script's Google Meet meeting (meetstream_catalog/simulator/scenarios/demo.yaml), 600 s long.
SCRIPT = {
    ("Alex_Kim_devices_100", 0.0, 150.0), ("Alex_Kim_devices_101", 140.0, 160.0),
    ("Jordan_Lee", 300.0, 100.0), ("Alex_Kim_devices_100", 400.0, 70.0),
    ("Alex_Kim_devices_101", 470.0, 70.0), ("Jordan_Lee", 540.0, 60.0),
}  # fmt: skip


@needs_libs
def test_lhotse_manifests_load_with_durations_and_speakers_of_the_script(
    demo_catalog: str, tmp_path: Path
) -> None:
    from lhotse import load_manifest

    assert main(["export", "lhotse", str(tmp_path), "--where", MEET,
                 "--catalog-root", demo_catalog]) == 0  # fmt: skip
    recordings = load_manifest(tmp_path / "recordings.jsonl.gz")
    supervisions = load_manifest(tmp_path / "supervisions.jsonl.gz")
    assert len(recordings) == 4  # three per-speaker files and the mixed audio
    assert {r.duration for r in recordings} == {600.0}
    assert all(Path(r.sources[0].source).is_file() for r in recordings)
    assert {(s.speaker, s.start, s.duration) for s in supervisions} == SCRIPT
    ids = {r.id for r in recordings}
    assert all(s.recording_id in ids and s.end <= 600.0 for s in supervisions)


@needs_libs
def test_audiofolder_metadata_loads_in_datasets_with_speaker_labels(
    demo_catalog: str, tmp_path: Path
) -> None:
    from datasets import load_dataset

    assert main(["export", "audiofolder", str(tmp_path), "--catalog-root", demo_catalog]) == 0
    ds = load_dataset("json", data_files=str(tmp_path / "metadata.jsonl"), split="train")
    assert len(ds) == 3 + 2 + 16  # meet, 15-minute zoom, 18-speaker zoom (capped at 16)
    rows = {(r["meeting"], r["speaker"]): r for r in ds}
    priya = next(r for (_, spk), r in rows.items() if spk == "Priya_Raman")
    assert (priya["duration"], priya["talk_seconds"]) == (900.0, 320.0)
    assert list(zip(priya["turn_starts"], priya["turn_ends"], strict=True)) == [
        (0.0, 120.0), (300.0, 420.0), (700.0, 780.0)
    ]  # fmt: skip
    assert {spk for (_, spk) in rows if spk.startswith("Alex_Kim")} == {
        "Alex_Kim_devices_100",
        "Alex_Kim_devices_101",
    }
    assert all((tmp_path / r["file_name"]).stat().st_size > 0 for r in ds)


@needs_libs
def test_audiofolder_loads_with_the_audiofolder_builder_and_decodes(
    demo_catalog: str, tmp_path: Path
) -> None:
    from datasets import load_dataset

    assert main(["export", "audiofolder", str(tmp_path), "--where", MEET,
                 "--catalog-root", demo_catalog]) == 0  # fmt: skip
    ds = load_dataset("audiofolder", data_dir=str(tmp_path), split="train")
    assert len(ds) == 3
    assert set(ds["speaker"]) == {"Alex_Kim_devices_100", "Alex_Kim_devices_101", "Jordan_Lee"}
    assert set(ds["duration"]) == {600.0}
    talk = {r["speaker"]: r["talk_seconds"] for r in ds}
    assert talk == {"Alex_Kim_devices_100": 220.0, "Alex_Kim_devices_101": 230.0,
                    "Jordan_Lee": 160.0}  # fmt: skip
    for row in ds:  # the Audio feature decodes each file (torchcodec + FFmpeg)
        audio = row["audio"]
        assert audio.metadata.sample_rate == 48000
        assert audio.metadata.duration_seconds == pytest.approx(600.0, abs=0.2)  # the WebM's
    last = ds[0]["audio"].get_samples_played_in_range(599.0)  # offset 0 = recording start
    assert (last.pts_seconds, last.data.shape[0]) == (599.0, 1)
    assert last.duration_seconds == pytest.approx(1.0, abs=0.02)


def test_rttm_has_one_file_per_meeting_with_the_scripts_turns(
    demo_catalog: str, tmp_path: Path
) -> None:
    assert main(["export", "rttm", str(tmp_path), "--catalog-root", demo_catalog]) == 0
    files = sorted(tmp_path.glob("*.rttm"))
    assert len(files) == 4  # every recorded meeting, Teams included (not the denied one)
    lines = [line.split() for f in files for line in f.read_text().splitlines()]
    assert all(len(p) == 10 and p[0] == "SPEAKER" for p in lines)
    teams = [p for p in lines if p[7] in ("Olivia_Brown", "Noah_Wilson", "Emma_Davis")]
    assert [(p[3], p[4]) for p in teams] == [("0.000", "240.000"), ("240.000", "240.000"),
                                              ("480.000", "240.000")]  # fmt: skip
    assert json.dumps(lines).count("Ines_Duarte") == 2  # past the 16-stream cap, still here
