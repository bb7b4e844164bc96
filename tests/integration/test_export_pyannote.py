"""`meetstream-catalog export rttm` loaded by pyannote.database itself (always on: the `dev`
group has it, and it needs no torch).

The export's `database.yml` is loaded with `registry.load_database`, its protocol iterated
subset by subset, and each file's `annotation` (RTTM) and `annotated` (UEM) checked against
the catalog: speakers, speech per speaker, the scored extent; no label is in two subsets.
The folder is loaded from another working directory and after a move, as the relative
paths in the yml promise.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import textwrap
from collections import defaultdict
from pathlib import Path

import pyannote.database
import pytest
from pyannote.core import Segment, Timeline
from pyannote.database.protocol.protocol import ProtocolFile
from pyannote.database.registry import Registry

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog import read_table, write_bot
from meetstream_catalog.catalog.records import bot_record
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.cli.main import main
from meetstream_catalog.export import speaker_labels

PROTOCOL = "MeetStream.SpeakerDiarization.Catalog"
DOC = Path(__file__).parents[2] / "docs" / "catalog.md"


def _load(out: Path) -> dict[str, list[ProtocolFile]]:
    """Each subset's files, read through pyannote.database from `out/database.yml` (into a
    registry of its own: loading a second protocol of one name warns)."""
    registry = Registry()
    registry.load_database(out / "database.yml")
    protocol = registry.get_protocol(PROTOCOL)
    return {
        "train": list(protocol.train()),
        "development": list(protocol.development()),
        "test": list(protocol.test()),
    }


def _no_label_in_two_subsets(subsets: dict[str, list[ProtocolFile]]) -> None:
    labels = {name: {lb for f in files for lb in f["annotation"].labels()}
              for name, files in subsets.items()}  # fmt: skip
    assert not labels["train"] & labels["development"]
    assert not labels["train"] & labels["test"]
    assert not labels["development"] & labels["test"]


def test_rttm_export_loads_in_pyannote_database_with_the_catalogs_speech(
    demo_catalog: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = tmp_path / "written"
    assert main(["export", "rttm", str(written), "--catalog-root", demo_catalog]) == 0
    out = tmp_path / "moved"  # the yml's paths are relative to it: the folder moves whole
    shutil.move(written, out)
    monkeypatch.chdir(tmp_path)  # and nothing resolves against the working directory

    subsets = _load(out)
    files = {f["uri"]: f for fs in subsets.values() for f in fs}
    media = read_table("media", demo_catalog)
    recorded = set(media[media.kind.isin(["audio", "mixed_audio"])].bot_id)
    assert sorted(files) == sorted(recorded)  # every recorded meeting, in one subset each
    assert sum(len(fs) for fs in subsets.values()) == len(files) == 4
    length = {
        m.bot_id: m.duration_seconds for m in media[media.kind == "composite_video"].itertuples()
    }
    speech = read_table("speech", demo_catalog)
    for uri, f in files.items():
        assert f["annotated"] == Timeline([Segment(0.0, length[uri])], uri=uri)
        turns = speech[speech.bot_id == uri].to_dict("records")
        labels = speaker_labels(turns)
        talk: dict[str, float] = defaultdict(float)
        for t in turns:
            talk[labels[(t["device_id"], t["participant_name"])]] += t["duration_seconds"]
        annotation = f["annotation"]
        assert sorted(annotation.labels()) == sorted(talk)
        for label, seconds in talk.items():
            assert annotation.label_duration(label) == pytest.approx(seconds, abs=1e-3)
        assert len(list(annotation.itertracks())) == len(turns)
    meet = files[speech[speech.participant_name == "Jordan Lee"].bot_id.iloc[0]]
    assert set(meet["annotation"].labels()) == {
        "Alex_Kim_devices_100", "Alex_Kim_devices_101", "Jordan_Lee"
    }  # fmt: skip
    _no_label_in_two_subsets(subsets)
    # Four meetings with no speaker in common: 80/10/10 of four rounds to 3/1/0.
    assert [len(subsets[s]) for s in ("train", "development", "test")] == [3, 1, 0]


DAY = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def _meeting(root: str, bot_id: str, speakers: list[str]) -> None:
    """A recorded meeting of 60 s in which each speaker talks 10 s, one after another."""
    # No file is read: the length is the composite video's (as the catalog records it).
    media = [
        ArchivedMedia(bot_id=bot_id, kind=kind, key=f"{bot_id}/{name}", bytes=1, sha256="0" * 64,
                      storage_uri=f"file:///nowhere/{bot_id}/{name}", duration_seconds=seconds)
        for kind, name, seconds in (("composite_video", "video.mp4", 60.0),
                                    ("mixed_audio", "audio.wav", None))
    ]  # fmt: skip
    turns = [
        SpeechRow(
            bot_id=bot_id, turn_index=i, participant_name=name, participant_key=name.lower(),
            device_id=f"devices/{i}", audio_stream_id=None, start_seconds=10.0 * i,
            end_seconds=10.0 * i + 10, duration_seconds=10.0, started_at=None, chunks=1,
        )
        for i, name in enumerate(speakers)
    ]  # fmt: skip
    bot = bot_record(
        bot_id=bot_id, platform="zoom", outcome="captured", created_at=DAY, media=media,
        speaker_timeline="available", speech_turns=len(turns),
    )  # fmt: skip
    write_bot(root, bot=bot, media=media, participants=[], speech=turns)


@pytest.fixture(scope="module")
def shared_catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Six meetings chained by shared speakers (one group), fourteen with their own people."""
    root = str(tmp_path_factory.mktemp("shared") / "catalog")
    for n in range(6):
        _meeting(root, f"chain-{n:02d}", [f"Person {n}", f"Person {n + 1}"])
    for n in range(14):
        _meeting(root, f"solo-{n:02d}", [f"Solo {n}", f"Guest {n}"])
    return root


def test_meetings_that_share_speakers_stay_in_one_subset_when_loaded_by_pyannote(
    shared_catalog: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    assert main(["export", "rttm", str(out), "--catalog-root", shared_catalog]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "database.yml: MeetStream.SpeakerDiarization.Catalog, meetings train 16, "
        "development 2, test 2"
    )

    subsets = _load(out)
    uris = {name: {f["uri"] for f in files} for name, files in subsets.items()}
    assert [len(uris[s]) for s in ("train", "development", "test")] == [16, 2, 2]
    assert {f"chain-{n:02d}" for n in range(6)} <= uris["train"]
    _no_label_in_two_subsets(subsets)
    for files in subsets.values():
        for f in files:
            assert f["annotated"].extent() == Segment(0.0, 60.0)
            assert f["annotation"].get_timeline().duration() == 20.0
    # The same catalog exported again: the same lists.
    again = tmp_path / "again"
    assert main(["export", "rttm", str(again), "--catalog-root", shared_catalog]) == 0
    for name in ("train", "development", "test"):
        lst = f"meetstream.{name}.lst"
        assert (again / lst).read_text() == (out / lst).read_text()
    assert "one group" not in caplog.text


def test_the_docs_example_loads_the_export(
    shared_catalog: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pyannote.database, "registry", Registry())  # the example's, fresh
    assert main(["export", "rttm", str(tmp_path), "--catalog-root", shared_catalog]) == 0
    section = DOC.read_text(encoding="utf-8").split("- `rttm`: `<bot_id>.rttm`", 1)[1]
    example = textwrap.dedent(re.findall(r"```python\n(.*?)```", section, re.DOTALL)[0])
    example = example.replace("out/rttm/database.yml", str(tmp_path / "database.yml"))
    scope: dict[str, object] = {}

    exec(example, scope)  # noqa: S102 - the doc's own example, run as a reader would

    assert scope["protocol"].name == PROTOCOL  # type: ignore[attr-defined]
    assert scope["file"]["uri"].startswith(("chain-", "solo-"))  # type: ignore[index]
