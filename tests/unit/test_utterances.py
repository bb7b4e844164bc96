"""Who said each utterance: track, timeline, provider label or nobody; and its rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from meetstream_catalog.catalog import bot_record, read_table, write_bot
from meetstream_catalog.catalog.utterances import (
    Speaker,
    Spoken,
    attribute,
    attribution_counts,
    speakers_from,
    turns_from,
)
from meetstream_catalog.meetstream.transcripts import Transcript

ANN = Speaker("ann", "Ann", "devices/1", "Ann_1")
BO = Speaker("bo", "Bo", "devices/2", None)  # no track of their own (Teams, past the cap)
ALEX_A = Speaker("alex kim", "Alex Kim", "devices/3", "Alex_3")
ALEX_B = Speaker("alex kim", "Alex Kim", "devices/4", "Alex_4")
TURNS = [
    Spoken(0, 10, "ann", "Ann", "devices/1", "Ann_1"),
    Spoken(10, 20, "bo", "Bo", "devices/2", None),
    Spoken(20, 30, "alex kim", "Alex Kim", "devices/3", "Alex_3"),
    Spoken(30, 40, "alex kim", "Alex Kim", "devices/4", "Alex_4"),
    Spoken(40, 50, "ann", "Ann", "devices/1", "Ann_1"),
    Spoken(40, 50, "bo", "Bo", "devices/2", None),  # both at once
]


def _one(label: str | None, start: float | None, end: float | None, **more: object):
    segment = {"speaker": label, "transcript": "words", "start_time": start, "end_time": end}
    transcript = Transcript.parse([segment | more])
    rows, _ = attribute(
        "b1",
        transcript,
        speakers=[ANN, BO, ALEX_A, ALEX_B],
        turns=TURNS,
        provider="deepgram",
        transcript_id="t1",
    )
    return rows[0]


@pytest.mark.parametrize(
    ("label", "start", "end", "method", "who", "device", "disagrees"),
    [
        ("Ann", 1, 9, "track", "ann", "devices/1", False),  # her own file's turns
        ("Bo", 2, 9, "track", "ann", "devices/1", True),  # the label errs; the turns decide
        ("Speaker 0", 1, 9, "track", "ann", "devices/1", None),  # a label we cannot compare
        ("Ann", 11, 19, "timeline", "bo", "devices/2", True),  # no track: the timeline
        ("Alex Kim", 31, 39, "track", "alex kim", "devices/4", False),  # namesakes: by device
        ("Bo", 41, 49, "provider", "bo", "devices/2", None),  # two at once: the label decides
        ("Alex Kim", 41, 49, "none", None, None, None),  # a shared name decides nothing
        ("Ann", 60, 70, "provider", "ann", "devices/1", None),  # nobody's turn: the label
        ("Speaker 1", 60, 70, "none", None, None, None),
        ("Ann", None, None, "provider", "ann", "devices/1", None),  # no times at all
        ("Bo", 8, 14, "timeline", "bo", "devices/2", False),  # 4 of 6 s are Bo's: > half
        ("Speaker 2", 5, 25, "none", None, None, None),  # nobody covers more than half
    ],
)
def test_attribution_prefers_tracks_then_the_timeline_then_the_label(
    label, start, end, method, who, device, disagrees
) -> None:
    row = _one(label, start, end)
    assert (row.attribution, row.participant_key, row.device_id) == (method, who, device)
    assert row.speaker_disagrees is disagrees
    assert row.provider_speaker == label


def test_an_utterance_with_a_track_names_its_stream_and_coverage() -> None:
    row = _one("Ann", 1, 9)
    assert (row.audio_stream_id, row.cover, row.provider, row.transcript_id) == (
        "Ann_1",
        1.0,
        "deepgram",
        "t1",
    )


def test_urls_in_what_people_said_never_reach_the_catalog() -> None:
    said = "see https://bucket.s3.amazonaws.com/x?X-Amz-Signature=abc and zoom.us/j/1?pwd=9"
    row = _one("Ann", 1, 9, transcript=said)
    assert "X-Amz-Signature" not in row.text
    assert "<url>" in row.text


def test_words_with_times_become_rows_numbered_within_their_utterance() -> None:
    words = [{"word": "a", "start": 1.0, "end": 1.2, "confidence": 0.5},
             {"word": "b"},  # no times: in the text only
             {"word": "c", "start": 2.0, "end": 2.4, "confidence": 0.7}]  # fmt: skip
    segments = [
        {"speaker": "Ann", "transcript": "a b c", "start_time": 1, "end_time": 3, "words": words},
        {"speaker": "Ann", "transcript": "d", "start_time": 4, "end_time": 5,
         "words": [{"word": "d", "start": 4, "end": 5}]},
    ]  # fmt: skip
    rows, timed = attribute(
        "b1",
        Transcript.parse(segments),
        speakers=[ANN],
        turns=TURNS,
        provider=None,
        transcript_id=None,
    )
    assert [(w.utterance_index, w.word_index, w.word) for w in timed] == [
        (0, 0, "a"),
        (0, 1, "c"),
        (1, 0, "d"),
    ]
    assert rows[0].words == 3
    assert rows[0].confidence == pytest.approx(0.6)
    assert {w.participant_key for w in timed} == {"ann"}
    assert attribution_counts(rows) == {"track": 2, "timeline": 0, "provider": 0, "none": 0}


def test_speakers_and_turns_read_catalog_rows_with_nulls() -> None:
    people = speakers_from(
        [{"participant_key": "ann", "participant_name": "Ann", "device_id": None,
          "audio_stream_id": "Ann_1", "match": "ambiguous"}]
    )  # fmt: skip
    assert people == [Speaker("ann", "Ann", None, "Ann_1", ambiguous=True)]
    turns = turns_from(
        [{"start_seconds": 1.0, "end_seconds": 2.0, "participant_key": "ann",
          "participant_name": "Ann", "device_id": float("nan"), "audio_stream_id": None},
         {"start_seconds": None, "end_seconds": 2.0}]
    )  # fmt: skip
    assert turns == [Spoken(1.0, 2.0, "ann", "Ann", None, None)]


def test_a_bots_utterances_and_words_round_trip_and_are_replaced(tmp_path: Path) -> None:
    root = str(tmp_path / "catalog")
    segment = {"speaker": "Ann", "transcript": "hello", "start_time": 1, "end_time": 2,
               "words": [{"word": "hello", "start": 1, "end": 2}]}  # fmt: skip
    said = attribute(
        "b1",
        Transcript.parse([segment, segment]),
        speakers=[ANN],
        turns=TURNS,
        provider="deepgram",
        transcript_id="t1",
    )
    record = bot_record(
        bot_id="b1",
        created_at=dt.datetime(2025, 3, 14, 9, tzinfo=dt.UTC),
        transcript={"transcript": "available", "transcript_id": "t1", "utterances": 2},
    )
    for _ in range(2):  # a re-run replaces, never duplicates
        write_bot(root, bot=record, media=[], participants=[], transcript=said)
    utterances = read_table("utterances", root)
    assert utterances["attribution"].tolist() == ["track", "track"]
    assert utterances["meeting_date"].tolist() == [dt.date(2025, 3, 14)] * 2
    assert len(read_table("words", root)) == 2
    bots = read_table("bots", root)
    assert bots[["transcript", "transcript_id", "utterances"]].values.tolist() == [
        ["available", "t1", 2]
    ]


def test_an_earlier_transcript_is_readable_as_of_its_version_and_queryable(
    tmp_path: Path,
) -> None:
    from meetstream_catalog.catalog.query import run_query

    root = str(tmp_path / "catalog")
    record = bot_record(bot_id="b1", created_at=dt.datetime(2025, 3, 14, 9, tzinfo=dt.UTC))
    for text in ("first words", "second words"):
        segment = {"speaker": "Ann", "transcript": text, "start_time": 1, "end_time": 2}
        said = attribute(
            "b1",
            Transcript.parse([segment]),
            speakers=[ANN],
            turns=TURNS,
            provider="deepgram",
            transcript_id=text,
        )
        write_bot(root, bot=record, media=[], participants=[], transcript=said)
    assert read_table("utterances", root)["text"].tolist() == ["second words"]
    assert read_table("utterances", root, as_of=0)["text"].tolist() == ["first words"]
    sql = "select participant_key, attribution, text from utterances"
    assert run_query(sql, root, as_of=0).to_pylist() == [
        {"participant_key": "ann", "attribution": "track", "text": "first words"}
    ]
