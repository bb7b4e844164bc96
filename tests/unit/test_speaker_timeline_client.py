"""The client's speaker timeline, data deletion and retention setting, against fake answers."""

from __future__ import annotations

import json

import pytest

from meetstream_catalog.meetstream.errors import WaitTimeoutError
from meetstream_catalog.settings import Settings
from tests.unit.conftest import FakeAPI

TIMELINE = {
    "chunks": [
        {"chunkIndex": 1, "sampleRate": 48000, "speakerId": "d/2", "speakerName": "Bo",
         "startByte": 192000, "endByte": 384000, "timestamp": "2026-05-26T10:04:13Z"},
        {"chunkIndex": 0, "sampleRate": 48000, "speakerId": "d/1", "speakerName": "Al",
         "startByte": 0, "endByte": 192000},
        {"chunkIndex": 2, "sampleRate": 0, "speakerId": "d/1", "startByte": 0, "endByte": 9},
    ],
    "audioFilePath": "bucket/secret/path/audio.wav",
}  # fmt: skip


async def test_speaker_timeline_bytes_become_seconds_of_16_bit_pcm(api: FakeAPI, make_client):
    api.add(200, TIMELINE)
    timeline = await make_client().get_speaker_timeline("b1")
    chunks = timeline.usable_chunks()
    assert [(c.speaker_name, c.start_seconds, c.end_seconds) for c in chunks] == [
        ("Al", 0.0, 2.0),
        ("Bo", 2.0, 4.0),
    ]
    assert "secret" not in timeline.model_dump_json()


async def test_speaker_timeline_202_is_polled_until_ready(api: FakeAPI, make_client):
    api.add(202, {"message": "in_progress"}, times=2).add(200, TIMELINE)
    timeline = await make_client().wait_for_speaker_timeline("b1", timeout=60)
    assert len(timeline.chunks) == 3
    assert len(api.requests) == 3


async def test_speaker_timeline_wait_is_bounded(api: FakeAPI, make_client):
    api.add(202, {"message": "in_progress"}, times=50)
    with pytest.raises(WaitTimeoutError, match="speaker timeline"):
        await make_client().wait_for_speaker_timeline("b1", timeout=20, initial_interval=5)


async def test_delete_bot_data_sends_delete_and_returns_deleted_objects(api: FakeAPI, make_client):
    api.add(200, {"message": "deleted", "bot_id": "b1", "deleted_objects": 12})
    assert await make_client().delete_bot_data("b1") == 12
    assert api.requests[0].method == "DELETE"
    assert api.requests[0].url.path.endswith("/bots/b1/delete")


async def test_retention_setting_is_sent_as_recording_config(api: FakeAPI, make_client):
    created = {"bot_id": "b1", "status": "Active"}
    api.add(201, created).add(201, created)
    await make_client(settings=Settings(api_key=None, retention_hours=48)).create_bot(
        meeting_link="https://zoom.us/j/1", bot_name="r", idempotency_key="k"
    )
    await make_client().create_bot(meeting_link="https://zoom.us/j/1", bot_name="r")
    sent = [json.loads(r.content) for r in api.requests]
    assert sent[0]["recording_config"] == {"retention": {"type": "timed", "hours": 48}}
    assert "recording_config" not in sent[1]
