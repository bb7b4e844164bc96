"""Erasure in export folders: only the subject's lines and files go, in every format."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from meetstream_catalog.export.cleanup import Erased, clean_export

PERSON = Erased(
    media_uris=frozenset({"file:///m/b1/ann.webm", "file:///m/b1/mixed.wav"}),
    audio_files=frozenset({"b1/s-ann_0.webm"}),
    turns=frozenset({("b1", 0)}),
    turn_spans=frozenset({("b1", "0.000", "2.500")}),
    utterances=frozenset({("b1", 3)}),
    words=frozenset({("b1", "1.000", "0.500", "hello")}),
)
MEETING = Erased(whole_bots=frozenset({"b1"}))


def _jsonl(path: Path, rows: list[dict[str, object]], gz: bool = False) -> None:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def _read(path: Path, gz: bool = False) -> list[dict[str, object]]:
    if gz:
        with gzip.open(path, "rt") as f:
            text = f.read()
    else:
        text = path.read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_lhotse_loses_the_persons_recordings_and_the_supervisions_on_them(tmp_path: Path) -> None:
    src = {"type": "file", "channels": [0]}
    _jsonl(tmp_path / "recordings.jsonl.gz", [
        {"id": "b1_s-ann", "sources": [{**src, "source": "/m/b1/ann.webm"}]},
        {"id": "b1_s-bob", "sources": [{**src, "source": "/m/b1/bob.webm"}]},
        {"id": "b1_mixed", "sources": [{**src, "source": "/m/b1/mixed.wav"}]},
        {"id": "b2_s-cy", "sources": [{**src, "source": "/m/b2/cy.webm"}]},
    ], gz=True)  # fmt: skip
    _jsonl(tmp_path / "supervisions.jsonl.gz", [
        {"id": "b1_turn00000", "recording_id": "b1_s-ann"},
        {"id": "b1_turn00001", "recording_id": "b1_s-bob"},
        {"id": "b2_turn00000", "recording_id": "b2_s-cy"},
    ], gz=True)  # fmt: skip
    assert clean_export("lhotse", tmp_path, PERSON, dry_run=True) == 3
    assert len(_read(tmp_path / "recordings.jsonl.gz", gz=True)) == 4  # dry run: unchanged
    assert clean_export("lhotse", tmp_path, PERSON) == 3
    assert [r["id"] for r in _read(tmp_path / "recordings.jsonl.gz", gz=True)] == [
        "b1_s-bob",
        "b2_s-cy",
    ]
    assert clean_export("lhotse", tmp_path, MEETING) == 2
    assert [r["id"] for r in _read(tmp_path / "supervisions.jsonl.gz", gz=True)] == ["b2_turn00000"]
    assert clean_export("lhotse", tmp_path, MEETING) == 0  # idempotent


def test_audiofolder_loses_the_persons_file_and_metadata_line(tmp_path: Path) -> None:
    for name in ("b1/s-ann_0.webm", "b1/s-bob_0.webm", "b2/s-cy_0.webm"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    _jsonl(tmp_path / "metadata.jsonl", [
        {"file_name": "b1/s-ann_0.webm", "meeting": "b1"},
        {"file_name": "b1/s-bob_0.webm", "meeting": "b1"},
        {"file_name": "b2/s-cy_0.webm", "meeting": "b2"},
    ])  # fmt: skip
    assert clean_export("audiofolder", tmp_path, PERSON) == 2  # the line and the file
    assert not (tmp_path / "b1/s-ann_0.webm").exists()
    assert (tmp_path / "b1/s-bob_0.webm").exists()
    assert clean_export("audiofolder", tmp_path, MEETING) == 3  # line, file, folder
    assert not (tmp_path / "b1").exists()
    assert [r["meeting"] for r in _read(tmp_path / "metadata.jsonl")] == ["b2"]


def test_rttm_and_ctm_lose_the_persons_lines_or_the_meetings_file(tmp_path: Path) -> None:
    (tmp_path / "b1.rttm").write_text(
        "SPEAKER b1 1 0.000 2.500 <NA> <NA> Ann <NA> <NA>\n"
        "SPEAKER b1 1 2.500 1.000 <NA> <NA> Bob <NA> <NA>\n"
    )
    (tmp_path / "b1.ctm").write_text("b1 1 1.000 0.500 hello 0.900\nb1 1 3.000 0.400 bye\n")
    assert clean_export("rttm", tmp_path, PERSON) == 1
    assert (tmp_path / "b1.rttm").read_text().split()[7] == "Bob"
    assert clean_export("ctm", tmp_path, PERSON) == 1
    assert (tmp_path / "b1.ctm").read_text() == "b1 1 3.000 0.400 bye\n"
    assert clean_export("rttm", tmp_path, MEETING) == 1
    assert not (tmp_path / "b1.rttm").exists()


def test_nemo_loses_the_persons_utterances_and_lines_on_erased_audio(tmp_path: Path) -> None:
    _jsonl(tmp_path / "manifest.jsonl", [
        {"audio_filepath": "/m/b1/bob.webm", "meeting": "b1", "utterance_index": 3},
        {"audio_filepath": "/m/b1/mixed.wav", "meeting": "b1", "utterance_index": 4},
        {"audio_filepath": "/m/b1/bob.webm", "meeting": "b1", "utterance_index": 5},
    ])  # fmt: skip
    assert clean_export("nemo", tmp_path, PERSON) == 2
    assert [r["utterance_index"] for r in _read(tmp_path / "manifest.jsonl")] == [5]


def test_a_missing_folder_is_reported_not_skipped(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        clean_export("rttm", tmp_path / "gone", MEETING)
