"""`meetstream-catalog export` on the demo catalog, loaded by the real libraries.

Always on: the RTTM output, and every audio file of the audiofolder export decoded with
PyAV (the `dev` group; its wheels ship their own FFmpeg, no torch) against what the
catalog says of it. With the `export-tests` group (lhotse, datasets, torchcodec) and torch's
CPU build beside the lock (`make export-libs`; torchcodec also loads FFmpeg's shared
libraries, from Debian's ffmpeg in `.ci/run`), the outputs are loaded by lhotse and Hugging
Face `datasets` too. Without a library those tests skip with one line naming what to
install; under `--require-export-libs` (CI) they fail instead of passing unseen.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import platform
import sys
from pathlib import Path

import pytest

from meetstream_catalog.catalog import read_table
from meetstream_catalog.cli.main import main
from tests.conftest import missing_library

# What loading each library needs: lhotse and torchcodec import torch.
_NEEDS = {"lhotse": ("torch", "lhotse"), "datasets": ("datasets",),
          "torchcodec": ("torch", "datasets", "torchcodec")}  # fmt: skip


@functools.cache
def _ffmpeg_problem() -> str | None:
    """Why torchcodec cannot load FFmpeg's shared libraries (it tries FFmpeg 8 down to 4
    when imported), or None when it can."""
    try:
        import torchcodec  # noqa: F401
    except (ImportError, OSError, RuntimeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [repr(exc)]
        # The first library the dynamic loader could not open says more than the preamble.
        why = next((line for line in lines if "cannot open shared object" in line), lines[0])
        return (
            "torchcodec cannot load FFmpeg's shared libraries (FFmpeg 4-8: "
            f"apt-get install ffmpeg, or brew install ffmpeg): {why[:160]}"
        )
    return None


def require(config: pytest.Config, *libraries: str) -> None:
    """Skip (fail under --require-export-libs) unless `libraries` load here: one line that
    names what is missing and how to install it."""
    wanted = dict.fromkeys(name for lib in libraries for name in _NEEDS[lib])
    missing = [name for name in wanted if importlib.util.find_spec(name) is None]
    hints = []
    if "torch" in missing:
        hints.append("torch (CPU build, kept out of uv.lock): make export-libs")
    if group := [name for name in missing if name != "torch"]:
        hint = f"{', '.join(group)} (group export-tests): make test"
        if "torchcodec" in group and (sys.platform, platform.machine()) != ("linux", "x86_64"):
            hint += "; torchcodec's CPU wheels are for Linux x86_64 only"
        hints.append(hint)
    if hints:
        missing_library(config, "missing " + "; ".join(hints))
    if "torchcodec" in wanted and (problem := _ffmpeg_problem()):
        missing_library(config, problem)


MEET = "platform = 'google_meet'"
# The demo script's Google Meet meeting, 600 s long
# (meetstream_catalog/simulator/scenarios/demo.yaml).
SCRIPT = {
    ("Alex_Kim_devices_100", 0.0, 150.0), ("Alex_Kim_devices_101", 140.0, 160.0),
    ("Jordan_Lee", 300.0, 100.0), ("Alex_Kim_devices_100", 400.0, 70.0),
    ("Alex_Kim_devices_101", 470.0, 70.0), ("Jordan_Lee", 540.0, 60.0),
}  # fmt: skip


def test_lhotse_manifests_load_with_durations_and_speakers_of_the_script(
    demo_catalog: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    require(pytestconfig, "lhotse")
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
    # The transcript's text: each turn carries what its speaker said in it.
    assert all(s.text and s.text.endswith(".") for s in supervisions)


def test_audiofolder_metadata_loads_in_datasets_with_speaker_labels(
    demo_catalog: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    require(pytestconfig, "datasets")
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


def test_audiofolder_loads_with_the_audiofolder_builder_and_decodes(
    demo_catalog: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    require(pytestconfig, "torchcodec")
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


def test_nemo_manifest_has_one_line_per_utterance_on_its_speakers_own_track(
    demo_catalog: str, tmp_path: Path
) -> None:
    # NeMo itself is not installable here: its ASR manifest format is checked field by
    # field (one JSON object per line; audio_filepath, offset, duration, text required).
    assert main(["export", "nemo", str(tmp_path), "--catalog-root", demo_catalog]) == 0
    lines = (tmp_path / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    said = read_table("utterances", demo_catalog)
    assert len(rows) == len(said) == 197  # every demo utterance has times and text
    fields = {"audio_filepath", "offset", "duration", "text", "speaker", "meeting",
              "utterance_index", "own_track", "attribution"}  # fmt: skip
    for row in rows:
        assert set(row) == fields
        assert Path(row["audio_filepath"]).is_absolute()
        assert Path(row["audio_filepath"]).is_file()
        assert isinstance(row["offset"], float)
        assert row["offset"] >= 0
        assert isinstance(row["duration"], float)
        assert 0 < row["duration"] <= 15
        assert isinstance(row["text"], str)
        assert row["text"]
    meet = [r for r in rows if r["speaker"] and r["speaker"].startswith("Alex_Kim")]
    assert {r["speaker"] for r in meet} == {"Alex_Kim_devices_100", "Alex_Kim_devices_101"}
    assert all(r["own_track"] and r["audio_filepath"].endswith(".webm") for r in meet)
    teams = [r for r in rows if r["speaker"] in ("Olivia_Brown", "Noah_Wilson", "Emma_Davis")]
    assert len(teams) == 48
    assert not any(r["own_track"] for r in teams)  # Teams: the mixed recording
    assert all(r["audio_filepath"].endswith(".wav") for r in teams)


def test_ctm_has_the_timed_words_of_each_transcribed_meeting(
    demo_catalog: str, tmp_path: Path
) -> None:
    assert main(["export", "ctm", str(tmp_path), "--catalog-root", demo_catalog]) == 0
    files = sorted(tmp_path.glob("*.ctm"))
    assert len(files) == 4  # every recorded meeting has a transcript in the demo
    lines = [line.split() for f in files for line in f.read_text().splitlines()]
    assert len(lines) == len(read_table("words", demo_catalog))
    for f in files:
        parts = [line.split() for line in f.read_text().splitlines()]
        assert {p[0] for p in parts} == {f.stem}  # the RTTM's file id
        assert all(len(p) == 6 and p[1] == "1" and float(p[3]) > 0 for p in parts)
        starts = [float(p[2]) for p in parts]
        assert starts == sorted(starts)


def test_every_audiofolder_file_decodes_with_pyav_to_the_length_the_catalog_gives(
    demo_catalog: str, tmp_path: Path
) -> None:
    import av

    assert main(["export", "audiofolder", str(tmp_path), "--catalog-root", demo_catalog]) == 0
    rows = [json.loads(line) for line in (tmp_path / "metadata.jsonl").read_text().splitlines()]
    media = read_table("media", demo_catalog)
    audio = {(m.bot_id, m.stream_id, m.segment_index): m
             for m in media[media.kind == "audio"].itertuples()}  # fmt: skip
    length = {
        m.bot_id: m.duration_seconds for m in media[media.kind == "composite_video"].itertuples()
    }
    assert len(rows) == 3 + 2 + 16
    for row in rows:  # every file, every frame: no file is cut short or padded
        stream_id, segment = Path(row["file_name"]).stem.rsplit("_", 1)
        said = audio[(row["meeting"], stream_id, int(segment))]
        samples, rates = 0, set()
        with av.open(str(tmp_path / row["file_name"])) as container:
            (stream,) = container.streams.audio
            for frame in container.decode(stream):  # one frame at a time: 15 min is 170 MB
                samples += frame.samples
                rates.add(frame.sample_rate)
        assert (stream.codec_context.name, rates) == (said.codec, {said.sample_rate}), row
        # Opus drops its 312-sample pre-skip (6.5 ms at 48 kHz): a tolerance of 20 ms.
        assert samples / said.sample_rate == pytest.approx(length[row["meeting"]], abs=0.02)
        assert row["duration"] == length[row["meeting"]]


def test_export_without_duckdb_prints_one_line_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # `import duckdb` raises ImportError
    out = tmp_path / "out"
    assert main(["export", "rttm", str(out), "--catalog-root", str(tmp_path / "catalog")]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: exports read the catalog with DuckDB, which is not installed: "
        "pip install 'meetstream-catalog[query]'"
    ]
    assert not out.exists()  # nothing written before it failed
