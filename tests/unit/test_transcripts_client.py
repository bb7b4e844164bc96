"""Transcripts at the API edge: what create_bot asks for, and reading what comes back."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from meetstream_catalog import retry
from meetstream_catalog.meetstream.errors import NotFoundError, WaitTimeoutError
from meetstream_catalog.meetstream.transcripts import Transcript, provider_config
from meetstream_catalog.settings import Settings

NEUTRAL = [
    {
        "speaker": "Alice",
        "transcript": "hello there",
        "start_time": 0.5,
        "end_time": 1.5,
        "words": [
            {"word": "hello", "punctuated_word": "Hello", "start": 0.5, "end": 0.9,
             "confidence": 0.9, "speaker": 0},
            {"word": "there", "start": 1.0, "end": 1.5, "confidence": 0.7, "speaker": 0},
        ],
    }
]  # fmt: skip
ASSEMBLYAI = {
    "id": "t1",
    "status": "completed",
    "text": "hi",
    "utterances": [
        {
            "speaker": "A",
            "text": "hi",
            "start": 1500,
            "end": 2000,
            "confidence": 0.8,
            "words": [
                {"text": "hi", "start": 1500, "end": 2000, "confidence": 0.8, "speaker": "A"}
            ],
        }
    ],
}


@pytest.mark.parametrize(
    ("provider", "model", "language", "expected"),
    [
        ("deepgram", "nova-3", "en", {"deepgram": {"model": "nova-3", "language": "en"}}),
        (
            "assemblyai",
            "universal-2",
            "en",
            {"assemblyai": {"speech_models": ["universal-2"], "language_code": "en"}},
        ),
        ("sarvam", "saaras:v3", "hi", {"sarvam": {"model": "saaras:v3", "language_code": "hi"}}),
        ("jigsawstack", None, "auto", {"jigsawstack": {"language": "auto"}}),
        ("meetstream", None, None, {"meetstream": {}}),
    ],
)
def test_each_provider_gets_its_own_documented_option_names(provider, model, language, expected):
    assert provider_config(provider, model=model, language=language) == expected


def test_a_streaming_provider_or_a_model_nobody_documents_is_refused():
    with pytest.raises(ValueError, match="post-call"):
        provider_config("deepgram_streaming")
    with pytest.raises(ValueError, match="no model"):
        provider_config("meetstream", model="x")


def test_settings_refuse_a_model_without_a_provider_or_for_a_provider_without_models():
    with pytest.raises(ValidationError, match="TRANSCRIPT_PROVIDER"):
        Settings(transcript_model="nova-3")
    with pytest.raises(ValidationError, match="no model"):
        Settings(transcript_provider="jigsawstack", transcript_model="x")
    with pytest.raises(ValidationError):
        Settings(transcript_provider="meeting_captions")


async def test_the_transcript_provider_setting_is_sent_in_recording_config(api, make_client):
    created = {"bot_id": "b1", "transcript_id": "t1", "status": "Active"}
    api.add(201, created).add(201, created)
    settings = Settings(
        api_key=None,
        retention_hours=24,
        transcript_provider="deepgram",
        transcript_model="nova-3",
        transcript_language="en",
    )
    answer = await make_client(settings=settings).create_bot(
        meeting_link="https://zoom.us/j/1", bot_name="r", idempotency_key="k"
    )
    await make_client().create_bot(meeting_link="https://zoom.us/j/1", bot_name="r")
    sent = [json.loads(r.content) for r in api.requests]
    assert answer.transcript_id == "t1"
    assert sent[0]["recording_config"] == {
        "retention": {"type": "timed", "hours": 24},
        "transcript": {"provider": {"deepgram": {"model": "nova-3", "language": "en"}}},
    }
    assert "recording_config" not in sent[1]  # unset: no transcript, as before


async def test_get_transcript_reads_the_neutral_array_by_transcript_id(api, make_client):
    api.add(200, NEUTRAL)
    transcript = await make_client().get_transcript("t1")
    assert api.requests[0].url.path == "/api/v1/transcript/t1/get_transcript"
    (segment,) = transcript.segments
    assert (segment.speaker, segment.transcript) == ("Alice", "hello there")
    assert segment.start_time == 0.5
    assert [w.text for w in segment.words] == ["Hello", "there"]
    assert segment.words[0].speaker == "0"
    assert segment.mean_confidence() == pytest.approx(0.8)


async def test_raw_asks_for_the_providers_json_and_the_assemblyai_shape_is_understood(
    api, make_client
):
    api.add(200, ASSEMBLYAI)
    transcript = await make_client().get_transcript("t1", raw=True)
    assert api.requests[0].url.params["raw"] == "true"
    assert transcript.shape == "assemblyai"
    (segment,) = transcript.segments
    assert (segment.speaker, segment.start_time, segment.end_time) == ("A", 1.5, 2.0)
    assert segment.words[0].start == 1.5


def test_text_is_accepted_where_transcript_is_expected_and_a_wrapper_too():
    parsed = Transcript.parse({"transcript": [{"speaker": "B", "text": "yes"}]})
    assert parsed.segments[0].transcript == "yes"


async def test_waiting_for_a_transcript_polls_202_and_gives_up_at_its_deadline(api, make_client):
    for _ in range(30):
        api.add(202, {"message": "Transcript is still being processed."})
    with pytest.raises(WaitTimeoutError, match="transcript t1"):
        await make_client().wait_for_transcript(
            "t1", timeout=60, initial_interval=5, max_interval=20
        )
    assert sum(api.sleeps) == pytest.approx(60)


async def test_an_unknown_transcript_is_not_found(api, make_client):
    api.add(404, {"message": "Transcript not found."})
    with retry.set_testing(True, attempts=1), pytest.raises(NotFoundError):
        await make_client().get_transcript("nope")


async def test_runs_are_listed_without_their_download_urls_and_transcribe_is_sent_once(
    api, make_client
):
    url = "https://bucket.s3.amazonaws.com/raw.json?X-Amz-Signature=abc"
    api.add(
        200,
        {
            "bot_id": "b1",
            "transcriptions": [
                {"transcript_id": "t1", "provider": "deepgram", "status": "Failed",
                 "download_urls": {"raw_transcript": url}},
            ],
        },
    )  # fmt: skip
    api.add(200, {"bot_id": "b1", "transcript_id": "t2", "provider": "assemblyai"})
    client = make_client()
    (run,) = await client.list_transcriptions("b1")
    assert run.failed
    assert "download_urls" not in run.model_dump()
    made = await client.transcribe("b1", provider=provider_config("assemblyai"))
    assert made.transcript_id == "t2"
    assert api.requests[1].method == "POST"
    assert json.loads(api.requests[1].content) == {"provider": {"assemblyai": {}}}
