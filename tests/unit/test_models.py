"""Response models: liberal parsing, normalized states, URLs kept out of reprs."""

from __future__ import annotations

import pytest

from meetstream_catalog.meetstream.bot import BotDetail, BotState, BotStatus
from meetstream_catalog.meetstream.models import (
    AudioManifest,
    CompositeVideo,
    MixedAudio,
    Segment,
    VideoManifest,
)

SECRET_URL = "https://bucket.s3.amazonaws.com/a.webm?X-Amz-Signature=deadbeef"


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("ERROR", BotState.ERROR),
        ("FAILED", BotState.ERROR),
        ("failed", BotState.ERROR),
        ("Error", BotState.ERROR),
        ("inmeeting", BotState.IN_MEETING),
        ("InMeeting", BotState.IN_MEETING),
        ("in_meeting", BotState.IN_MEETING),
        ("InWaitingRoom", BotState.IN_WAITING_ROOM),
        ("in-waiting-room", BotState.IN_WAITING_ROOM),
        ("Stopped", BotState.STOPPED),
        ("NotAllowed", BotState.NOT_ALLOWED),
        ("done", BotState.DONE),
        ("Teleporting", BotState.UNKNOWN),
        ("", BotState.UNKNOWN),
        (None, BotState.UNKNOWN),
    ],
)
def test_bot_state_parse(raw: str | None, state: BotState) -> None:
    assert BotState.parse(raw) is state


@pytest.mark.parametrize(
    ("state", "left"),
    [
        (BotState.IN_MEETING, False),
        (BotState.JOINING, False),
        (BotState.STOPPED, True),
        (BotState.DENIED, True),
        (BotState.ERROR, True),
        (BotState.DONE, True),
    ],
)
def test_has_left(state: BotState, left: bool) -> None:
    assert state.has_left is left


def test_extra_fields_are_ignored() -> None:
    status = BotStatus.model_validate({"bot_id": "b1", "status": "InMeeting", "new_field": 1})
    assert status.state is BotState.IN_MEETING
    assert not hasattr(status, "new_field")


def test_detail_unwraps_bot_details() -> None:
    detail = BotDetail.model_validate({"bot_details": {"BotID": "b1", "Platform": "zoom"}})
    assert (detail.bot_id, detail.platform) == ("b1", "zoom")


def test_urls_are_hidden_from_reprs() -> None:
    assert "deadbeef" not in repr(Segment(url=SECRET_URL))
    assert "deadbeef" not in repr(MixedAudio(audio_url=SECRET_URL))
    assert "deadbeef" not in repr(CompositeVideo(video_url=SECRET_URL))
    manifest = AudioManifest.model_validate(
        {
            "participants": [
                {"participant_name": "A", "streams": [{"segments": [{"url": SECRET_URL}]}]}
            ]
        }
    )
    assert "deadbeef" not in repr(manifest)


def _nested_video() -> dict[str, object]:
    segment = {"segment_index": 0, "url": SECRET_URL, "filename": "Jane_0.webm"}
    return {
        "bot_id": "b1",
        "video_status": "Success",
        "recording_streams_available": True,
        "participants": [
            {"participant_name": "Jane", "streams": [{"stream_id": "s1", "segments": [segment]}]}
        ],
        "screenshares": [
            {"participant_name": "Jane", "streams": [{"stream_id": "s2", "segments": [segment]}]}
        ],
    }


def _flat_video() -> list[dict[str, object]]:
    return [
        {"participant": {"name": "Jane"}, "download_url": SECRET_URL, "type": "webcam"},
        {"participant": {"name": "Jane"}, "download_url": SECRET_URL, "type": "screenshare"},
    ]


@pytest.mark.parametrize("shape", [_nested_video, _flat_video])
def test_both_video_shapes_parse_into_one_model(shape: object) -> None:
    manifest = VideoManifest.model_validate(shape())  # type: ignore[operator]
    assert manifest.available
    assert [p.participant_name for p in manifest.participants] == ["Jane"]
    assert [p.participant_name for p in manifest.screenshares] == ["Jane"]
    assert manifest.participants[0].streams[0].segments[0].url == SECRET_URL


@pytest.mark.parametrize(
    "body",
    [
        {"bot_id": "b1", "recording_streams_available": False, "participants": []},
        {"bot_id": "b1", "recording_streams_available": False, "message": "No video streams."},
        [],
    ],
)
def test_no_video_streams_is_a_value(body: object) -> None:
    manifest = VideoManifest.model_validate(body)
    assert not manifest.available
    assert manifest.participants == []


def test_no_audio_streams_is_a_value() -> None:
    manifest = AudioManifest.model_validate(
        {"bot_id": "b1", "audio_streams_available": False, "participants": [], "message": "No."}
    )
    assert not manifest.available
    assert manifest.participants == []


def _namesake_video() -> list[dict[str, object]]:
    def url(file: str) -> str:
        return f"https://bucket.s3.amazonaws.com/b1/{file}?X-Amz-Signature=abc"

    return [
        {"participant": {"name": "John Smith"}, "download_url": url("John_Smith_111_0.mp4"),
         "type": "webcam"},
        {"participant": {"name": "John Smith"}, "download_url": url("John_Smith_222_0.mp4"),
         "type": "webcam"},
        {"participant": {"name": "John Smith"}, "download_url": url("John_Smith_111_1.mp4"),
         "type": "webcam"},
    ]  # fmt: skip


def test_flat_video_groups_files_by_stream_never_by_display_name() -> None:
    manifest = VideoManifest.model_validate(_namesake_video())

    streams = {
        p.streams[0].stream_id: [s.segment_index for s in p.streams[0].segments]
        for p in manifest.participants
    }
    assert streams == {"John_Smith_111": [0, 1], "John_Smith_222": [0]}
    assert [p.participant_name for p in manifest.participants] == ["John Smith"] * 2


@pytest.mark.parametrize("shape", ["flat", "nested"])
def test_namesakes_on_camera_are_never_joined_to_one_speaker(shape: str) -> None:
    from meetstream_catalog.catalog.join import join_participants
    from meetstream_catalog.meetstream.models import AudioManifest

    audio = AudioManifest.model_validate(
        {
            "participants": [
                {"participant_name": "John Smith",
                 "streams": [{"stream_id": "a1", "segments": [{"url": SECRET_URL}]}]}
            ]
        }
    )  # fmt: skip
    flat = _namesake_video()
    nested = {
        "participants": [
            {"participant_name": "John Smith",
             "streams": [{"stream_id": sid, "segments": [{"url": SECRET_URL}]}]}
            for sid in ("cam-1", "cam-2")
        ]
    }  # fmt: skip
    video = VideoManifest.model_validate(flat if shape == "flat" else nested)

    rows = join_participants("b1", audio, video, [], platform="zoom")

    assert {r.match for r in rows} == {"ambiguous"}
    assert not any(r.match == "both" for r in rows)
