"""The rttm export's train/development/test split: deterministic, speaker-disjoint, whole
groups of meetings that share speakers; and the UEM, lists and log lines around it."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import pytest

from meetstream_catalog.export.diarization import Diarization, speaker_identities
from meetstream_catalog.export.meetings import Meeting
from meetstream_catalog.export.split import SUBSETS, split
from meetstream_catalog.export.summary import ExportSummary


def _catalog(meetings: int, seed: int) -> dict[str, set[str]]:
    """Meetings of 0-4 speakers drawn from a pool, so some share speakers and some not."""
    rng = random.Random(seed)
    pool = [f"person {n}" for n in range(meetings * 2)]
    return {f"bot-{n:03d}": set(rng.sample(pool, rng.randint(0, 4))) for n in range(meetings)}


def _shuffled(speakers: dict[str, set[str]], seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    uris = list(speakers)
    rng.shuffle(uris)
    out = {}
    for uri in uris:
        names = sorted(speakers[uri])
        rng.shuffle(names)
        out[uri] = names
    return out


def test_the_same_meetings_in_any_order_give_the_same_split() -> None:
    speakers = _catalog(60, seed=1)
    first = split(speakers)
    for seed in range(5):
        assert split(_shuffled(speakers, seed)) == first


@pytest.mark.parametrize("seed", range(8))
def test_no_speaker_is_in_two_subsets_and_every_meeting_is_in_one(seed: int) -> None:
    speakers = _catalog(40, seed)
    subsets = split(speakers).subsets
    assert sorted(u for uris in subsets.values() for u in uris) == sorted(speakers)
    who = {name: {speaker for u in subsets[name] for speaker in speakers[u]} for name in SUBSETS}
    assert not who["train"] & who["development"]
    assert not who["train"] & who["test"]
    assert not who["development"] & who["test"]


def test_ten_meetings_without_shared_speakers_split_eight_one_one() -> None:
    speakers = {f"bot-{n}": {f"person {n}"} for n in range(10)}
    chosen = split(speakers)
    assert [len(chosen.subsets[s]) for s in SUBSETS] == [8, 1, 1]
    assert chosen.groups == 10
    assert not chosen.single_group


def test_a_hundred_meetings_split_eighty_ten_ten() -> None:
    speakers = {f"bot-{n:03d}": {f"person {n}"} for n in range(100)}
    assert [len(split(speakers).subsets[s]) for s in SUBSETS] == [80, 10, 10]


def test_one_group_holding_every_meeting_goes_to_train_whole() -> None:
    # A chain: each meeting shares one speaker with the next, so all are one group.
    speakers = {f"bot-{n}": {f"person {n}", f"person {n + 1}"} for n in range(12)}
    chosen = split(speakers)
    assert chosen.subsets == {"train": sorted(speakers), "development": [], "test": []}
    assert chosen.single_group
    assert chosen.largest_group == 12


def test_a_large_group_lands_in_train_and_the_rest_keeps_eighty_ten_ten() -> None:
    speakers: dict[str, set[str]] = {f"big-{n:02d}": {"host"} for n in range(30)}
    speakers |= {f"bot-{n:02d}": {f"person {n}"} for n in range(70)}
    subsets = split(speakers).subsets
    assert {u for u in speakers if u.startswith("big-")} <= set(subsets["train"])
    assert [len(subsets[s]) for s in SUBSETS] == [80, 10, 10]


def test_meetings_with_no_speakers_are_groups_of_their_own() -> None:
    speakers: dict[str, set[str]] = {f"bot-{n}": set() for n in range(10)}
    chosen = split(speakers)
    assert chosen.groups == 10
    assert [len(chosen.subsets[s]) for s in SUBSETS] == [8, 1, 1]


def test_no_meetings_give_empty_subsets() -> None:
    assert split({}).subsets == {"train": [], "development": [], "test": []}


def _turn(name: str | None, device: str, key: str | None = None, **times: float) -> Any:
    start = times.get("start", 0.0)
    end = times.get("end", 10.0)
    return {
        "participant_name": name, "participant_key": key, "device_id": device,
        "start_seconds": start, "end_seconds": end, "duration_seconds": end - start,
    }  # fmt: skip


def test_a_speaker_is_their_participant_key_else_their_normalized_name_and_label() -> None:
    m = Meeting("bot", "zoom", "2026-03-02", [], [
        _turn("Ann Lee", "devices/1", key="ann lee"),
        _turn("José  DÍAZ", "devices/2"),  # no key: the normalized name stands in
        _turn(None, "devices/3"),  # no name: the label (the device) only
    ])  # fmt: skip
    assert speaker_identities(m) == {
        "key:ann lee", "label:Ann_Lee", "key:josé díaz", "label:José_DÍAZ",
        "label:devices_3",
    }  # fmt: skip


def _meeting(bot: str, turns: list[Any], timeline: str | None = "available") -> Meeting:
    video = {"kind": "composite_video", "duration_seconds": 60.0}
    return Meeting(bot, "zoom", "2026-03-02", [video], turns, speaker_timeline=timeline)


def test_meetings_of_unknown_speech_get_no_uem_and_stay_out_of_the_lists(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer, summary = Diarization(tmp_path, {}), ExportSummary("rttm")
    writer.add(_meeting("a", [_turn("Ann", "d1", start=1.0, end=4.0)]), summary)
    writer.add(_meeting("b", [], timeline="empty"), summary)  # nobody spoke: scored silence
    writer.add(_meeting("c", [], timeline=None), summary)  # timeline never read
    with caplog.at_level(logging.WARNING):
        writer.finish(summary)
    assert (tmp_path / "a.uem").read_text() == "a 1 0.000 60.000\n"
    assert (tmp_path / "b.uem").read_text() == "b 1 0.000 60.000\n"
    assert not (tmp_path / "c.uem").exists()
    assert (tmp_path / "c.rttm").read_text() == ""
    listed = [(tmp_path / f"meetstream.{s}.lst").read_text().split() for s in SUBSETS]
    assert sorted(u for uris in listed for u in uris) == ["a", "b"]
    assert summary.subsets == {"train": 2, "development": 0, "test": 0}
    assert "1 meetings left out of MeetStream.SpeakerDiarization.Catalog" in caplog.text
    assert "one group" not in caplog.text


def test_a_single_group_is_said_in_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer, summary = Diarization(tmp_path, {}), ExportSummary("rttm")
    for bot in ("a", "b", "c"):
        writer.add(_meeting(bot, [_turn("Ann", "d1")]), summary)
    with caplog.at_level(logging.WARNING):
        writer.finish(summary)
    assert summary.subsets == {"train": 3, "development": 0, "test": 0}
    assert caplog.messages == [
        "all 3 meetings share speakers (one group): all in train, development and test "
        "empty in MeetStream.SpeakerDiarization.Catalog"
    ]


def test_speaker_labels_never_read_as_missing_values() -> None:
    from meetstream_catalog.export import speaker_labels

    turns = [
        {"participant_name": None, "device_id": None},
        {"participant_name": "NA", "device_id": "d1"},
        {"participant_name": "None", "device_id": "d2"},
        {"participant_name": "Nana", "device_id": "d3"},
    ]
    labels = speaker_labels(turns)
    assert labels == {
        (None, None): "unknown",
        ("d1", "NA"): "NA_",
        ("d2", "None"): "None_",
        ("d3", "Nana"): "Nana",
    }
