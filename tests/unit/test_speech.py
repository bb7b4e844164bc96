"""Speaker timeline -> speech turns, talk time per row, and namesakes told apart by devices."""

from __future__ import annotations

from typing import Any

from meetstream_catalog.catalog.join import join_participants
from meetstream_catalog.catalog.speech import attribute, merge_turns, talk_by_device
from meetstream_catalog.meetstream.models import AudioManifest, MeetingParticipant, VideoManifest
from meetstream_catalog.meetstream.timeline import SpeakerTimeline

RATE = 16000


def chunk(device: str, name: str, start: float, end: float) -> dict[str, Any]:
    b = RATE * 2
    return {"sampleRate": RATE, "speakerId": device, "speakerName": name,
            "startByte": int(start * b), "endByte": int(end * b)}  # fmt: skip


def timeline(*chunks: dict[str, Any]) -> SpeakerTimeline:
    return SpeakerTimeline.model_validate({"chunks": list(chunks)})


def entry(name: str, sid: str, talk: float | None = None) -> dict[str, Any]:
    seg = {"segment_index": 0, "duration_seconds": talk}
    return {"participant_name": name, "streams": [{"stream_id": sid, "segments": [seg]}]}


def device(dev: str, name: str, *ids: str) -> MeetingParticipant:
    return MeetingParticipant.model_validate(
        {"deviceId": dev, "displayName": name, "streamIds": list(ids)}
    )


def test_touching_chunks_of_one_speaker_are_one_turn_and_overlaps_stay_two() -> None:
    turns = merge_turns(
        timeline(
            chunk("d1", "Al", 0, 2),
            chunk("d1", "Al", 2, 4),
            chunk("d2", "Bo", 3, 5),
            chunk("d1", "Al", 9, 10),
        )
    )
    assert [(t.device_id, t.start, t.end, t.chunks) for t in turns] == [
        ("d1", 0.0, 4.0, 2),
        ("d2", 3.0, 5.0, 1),
        ("d1", 9.0, 10.0, 1),
    ]
    assert talk_by_device(turns) == {"d1": 5.0, "d2": 2.0}


def test_chunks_without_a_sample_rate_or_length_are_dropped() -> None:
    bad = [{"speakerId": "d", "startByte": 0, "endByte": 10}, chunk("d", "x", 5, 5)]
    assert merge_turns(timeline(*bad)) == []
    assert merge_turns(None) == []


def _meet(audio: list[Any], cams: list[Any], devices: list[MeetingParticipant], tl: Any) -> Any:
    turns = merge_turns(tl)
    rows = join_participants(
        "b1",
        AudioManifest.model_validate({"participants": audio}),
        VideoManifest.model_validate({"participants": cams}),
        [],
        platform="google_meet",
        attendees=devices,
        talk_by_device=talk_by_device(turns),
    )
    return attribute("b1", turns, rows, devices, timeline_known=tl is not None)


def test_namesakes_are_joined_by_their_devices_stream_ids() -> None:
    audio = [entry("Alex Kim", "a1", 10), entry("Alex Kim", "a2", 20)]
    cams = [entry("Alex Kim", "v2"), entry("Alex Kim", "v1")]
    devices = [device("d1", "Alex Kim", "a1", "v1"), device("d2", "alex  kim", "a2", "v2")]
    rows, speech = _meet(audio, cams, devices, timeline(chunk("d2", "Alex Kim", 0, 20)))
    got = [(r.match, r.match_method, r.device_id, r.audio_stream_id, r.webcam_stream_ids,
            r.talk_seconds) for r in rows]  # fmt: skip
    assert got == [
        ("both", "device", "d1", "a1", ["v1"], 0.0),
        ("both", "device", "d2", "a2", ["v2"], 20.0),
    ]
    assert [(s.device_id, s.audio_stream_id) for s in speech] == [("d2", "a2")]


def test_namesakes_audio_is_tied_by_timeline_talk_time_when_devices_list_only_video() -> None:
    audio = [entry("Alex Kim", "a1", 30), entry("Alex Kim", "a2", 12)]
    cams = [entry("Alex Kim", "v1"), entry("Alex Kim", "v2")]
    devices = [device("d1", "Alex Kim", "v1"), device("d2", "Alex Kim", "v2")]
    tl = timeline(chunk("d1", "Alex Kim", 0, 12), chunk("d2", "Alex Kim", 12, 42))
    rows, _ = _meet(audio, cams, devices, tl)
    assert [
        (r.match_method, r.device_id, r.audio_stream_id, r.webcam_stream_ids) for r in rows
    ] == [
        ("timeline", "d2", "a1", ["v2"]),
        ("timeline", "d1", "a2", ["v1"]),
    ]


def test_namesakes_stay_ambiguous_when_the_evidence_is_not_decisive() -> None:
    audio = [entry("Alex Kim", "a1", 30), entry("Alex Kim", "a2", 30.5)]  # talk times too close
    cams = [entry("Alex Kim", "v1"), entry("Alex Kim", "v2")]
    devices = [device("d1", "Alex Kim", "v1"), device("d2", "Alex Kim", "v2")]
    tl = timeline(chunk("d1", "Alex Kim", 0, 30), chunk("d2", "Alex Kim", 30, 60))
    rows, speech = _meet(audio, cams, devices, tl)
    assert {(r.match, r.match_method) for r in rows} == {("ambiguous", "ambiguous")}
    assert len(rows) == 4
    # Turns keep their device, but no ambiguous row gets them by name.
    assert [s.audio_stream_id for s in speech] == [None, None]
    assert all(r.talk_seconds in (0.0, None) for r in rows if not r.webcam_stream_ids)


def test_without_a_timeline_talk_is_unknown_not_zero() -> None:
    rows, speech = _meet([entry("Ann", "a1", 5)], [], [device("d1", "Ann", "a1")], None)
    assert (rows[0].speech_turns, rows[0].talk_seconds, rows[0].match_method) == (
        None,
        None,
        "name",
    )
    assert speech == []
