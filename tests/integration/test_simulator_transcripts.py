"""The simulator transcribes its scripted meetings: the transcript endpoints and webhooks,
in-process (manual clock) and over a real socket (webhooks, the official SDK)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from meetstream import MeetStream, NotReadyError

from meetstream_catalog.simulator.app import create_app
from meetstream_catalog.simulator.scenario import (
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import SimulatorConfig
from tests.integration.simulator_calls import AUTH, DEMO, Receiver, advance, create_bot

ZOOM = "https://zoom.us/j/1000000001"
TEAMS = "https://teams.microsoft.com/l/meetup-join/demo-teams-meeting"
FAILS = "https://zoom.us/j/2000000001"
STUCK = "https://zoom.us/j/2000000002"
DEEPGRAM = {"transcript": {"provider": {"deepgram": {"model": "nova-3", "language": "en"}}}}
SCRIPT = {"duration": 120, "processing": {"audio_delay": 10, "video_delay": 20},
          "participants": [{"name": "Ann", "speech": [[0, 60]]},
                           {"name": "Bo", "speech": [[60, 120]]}]}  # fmt: skip
SCENARIO = {
    "meetings": {
        FAILS: {**SCRIPT, "transcript": {"outcome": "failed"}},
        STUCK: {**SCRIPT, "transcript": {"outcome": "stuck"}},
    }
}


def _config(**overrides: Any) -> SimulatorConfig:
    scenario = load_scenario(DEMO)
    scenario.meetings.update(parse_scenario(SCENARIO).meetings)
    return SimulatorConfig(speed=0.0, scenario=scenario, **overrides)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(_config()))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as c:
        yield c


async def _transcript(c: httpx.AsyncClient, tid: str, raw: bool = False) -> httpx.Response:
    params = {"raw": "true"} if raw else {}
    return await c.get(f"/api/v1/transcript/{tid}/get_transcript", params=params, headers=AUTH)


async def test_a_transcript_is_202_until_processed_then_utterances_from_the_script(
    client: httpx.AsyncClient,
) -> None:
    bot = await create_bot(client, ZOOM, recording_config=DEEPGRAM)
    tid = bot["transcript_id"]
    assert tid
    assert (await _transcript(client, tid)).status_code == 202  # in the call
    await advance(client, 5 + 20 + 2 + 900 + 2 + 1)  # stopped, audio still processing
    assert (await _transcript(client, tid)).status_code == 202
    await advance(client, 60)
    r = await _transcript(client, tid)
    assert r.status_code == 200
    utterances = r.json()
    assert isinstance(utterances, list)
    windows = {"Priya Raman": [(0, 120), (300, 420), (700, 780)],
               "Marco Rossi": [(120, 300), (420, 700)]}  # fmt: skip
    for u in utterances:
        assert any(s <= u["start_time"] < u["end_time"] <= e for s, e in windows[u["speaker"]])
        assert u["transcript"] == " ".join(w["punctuated_word"] for w in u["words"])
        assert all(u["start_time"] <= w["start"] < w["end"] <= u["end_time"] for w in u["words"])
    spoken = sum(u["end_time"] - u["start_time"] for u in utterances)
    assert spoken == pytest.approx(120 + 120 + 80 + 180 + 280)
    # Deterministic: another bot in the same meeting hears the same words.
    again = await create_bot(client, ZOOM, recording_config=DEEPGRAM)
    await advance(client, 2000)
    assert (await _transcript(client, again["transcript_id"])).json() == utterances
    detail = (await client.get(f"/api/v1/bots/{bot['bot_id']}/detail", headers=AUTH)).json()
    assert detail["bot_details"]["transcript_id"] == tid
    assert detail["bot_details"]["TranscriptStatus"] == "Success"


async def test_raw_answers_assemblyais_shape_in_milliseconds(client: httpx.AsyncClient) -> None:
    bot = await create_bot(client, ZOOM, recording_config=DEEPGRAM)
    await advance(client, 2000)
    neutral = (await _transcript(client, bot["transcript_id"])).json()
    raw = (await _transcript(client, bot["transcript_id"], raw=True)).json()
    assert raw["id"] == bot["transcript_id"]
    assert raw["utterances"][0]["speaker"] == "A"
    assert {u["speaker"] for u in raw["utterances"]} == {"A", "B"}
    assert raw["utterances"][0]["start"] == round(neutral[0]["start_time"] * 1000)
    assert raw["utterances"][0]["text"] == neutral[0]["transcript"]


async def test_on_teams_every_third_utterance_carries_another_speakers_label(
    client: httpx.AsyncClient,
) -> None:
    bot = await create_bot(client, TEAMS, recording_config=DEEPGRAM)
    await advance(client, 2000)
    utterances = (await _transcript(client, bot["transcript_id"])).json()
    truth = {"Olivia Brown": (0, 240), "Noah Wilson": (240, 480), "Emma Davis": (480, 720)}
    wrong = [
        n
        for n, u in enumerate(utterances)
        if not truth[u["speaker"]][0] <= u["start_time"] < truth[u["speaker"]][1]
    ]
    assert wrong == list(range(2, len(utterances), 3))


async def test_a_failed_transcription_is_404_failed_in_the_list_and_in_the_timeline(
    client: httpx.AsyncClient,
) -> None:
    bot = await create_bot(client, FAILS, recording_config=DEEPGRAM)
    await advance(client, 1000)
    r = await _transcript(client, bot["transcript_id"])
    assert r.status_code == 404
    assert "failed" in r.json()["message"].lower()
    runs = (await client.get(f"/api/v1/bots/{bot['bot_id']}/transcriptions", headers=AUTH)).json()
    assert [(t["transcript_id"], t["status"]) for t in runs["transcriptions"]] == [
        (bot["transcript_id"], "Failed")
    ]
    assert runs["transcriptions"][0]["download_urls"] is None
    events = (await client.get("/_simulator/bots")).json()["bots"][0]["events"]
    assert "transcription.failed" in [e["event"] for e in events]
    assert "transcription.processed" not in [e["event"] for e in events]


async def test_a_stuck_transcript_answers_202_for_ever_and_unknown_ids_404(
    client: httpx.AsyncClient,
) -> None:
    bot = await create_bot(client, STUCK, recording_config=DEEPGRAM)
    await advance(client, 100_000)
    assert (await _transcript(client, bot["transcript_id"])).status_code == 202
    assert (await _transcript(client, "no-such-transcript")).status_code == 404


async def test_no_provider_no_transcript_id_and_streaming_providers_get_none(
    client: httpx.AsyncClient,
) -> None:
    assert (await create_bot(client, ZOOM))["transcript_id"] is None
    streaming = {"transcript": {"provider": {"deepgram_streaming": {}}}}
    assert (await create_bot(client, ZOOM, recording_config=streaming))["transcript_id"] is None


async def test_transcribe_after_the_meeting_makes_a_new_run_that_becomes_the_bots(
    client: httpx.AsyncClient,
) -> None:
    bot = await create_bot(client, FAILS, recording_config=DEEPGRAM)
    path = f"/api/v1/bots/{bot['bot_id']}/transcribe"
    body = {"provider": {"assemblyai": {"language_code": "en"}}}
    r = await client.post(path, json=body, headers=AUTH)
    assert (r.status_code, r.json()["message"]) == (409, "The bot is still in the meeting.")
    await advance(client, 1000)
    assert (await client.post(path, json={"provider": {}}, headers=AUTH)).status_code == 400
    r = await client.post(path, json=body, headers=AUTH)
    assert r.status_code == 200
    new = r.json()["transcript_id"]
    assert new != bot["transcript_id"]
    assert r.json()["provider"] == "assemblyai"
    assert (await _transcript(client, new)).status_code == 202
    await advance(client, 10)  # the script's transcript.delay (default)
    assert (await _transcript(client, new)).status_code == 200
    runs = (await client.get(f"/api/v1/bots/{bot['bot_id']}/transcriptions", headers=AUTH)).json()
    assert [t["status"] for t in runs["transcriptions"]] == ["Failed", "Success"]
    detail = (await client.get(f"/api/v1/bots/{bot['bot_id']}/detail", headers=AUTH)).json()
    assert detail["bot_details"]["transcript_id"] == new


def test_scenario_transcript_fields_are_checked() -> None:
    for bad in ({"outcome": "maybe"}, {"delay": -1}, {"mislabel_every": "x"}, {"color": 1}):
        with pytest.raises(ScenarioError, match="transcript"):
            parse_scenario({"meetings": {ZOOM: {**SCRIPT, "transcript": bad}}})


@pytest.fixture
def served() -> Iterator[tuple[httpx.Client, Receiver]]:
    receiver = Receiver()
    with (
        serve_in_thread(_config()) as base_url,
        httpx.Client(base_url=base_url.removesuffix("/api/v1"), timeout=10) as api,
    ):
        yield api, receiver
    receiver.close()


def test_webhooks_say_processed_or_failed_and_a_transcribe_run_posts_once_to_its_own_url(
    served: tuple[httpx.Client, Receiver],
) -> None:
    api, receiver = served
    body = {"meeting_link": FAILS, "bot_name": "A", "callback_url": receiver.url,
            "custom_attributes": {"job": "7"}, "recording_config": DEEPGRAM}  # fmt: skip
    bot = api.post("/api/v1/bots/create_bot", json=body, headers=AUTH).json()
    api.post("/_simulator/advance", json={"seconds": 1000})
    failed = receiver.wait_for("transcription.failed")
    assert (failed["status_code"], failed["status"], failed["transcript_status"]) == (
        500,
        "error",
        "Failed",
    )
    receiver.wait_for("bot.done")
    second = Receiver()
    run = {"provider": {"deepgram": {}}, "callback_url": second.url}
    api.post(f"/api/v1/bots/{bot['bot_id']}/transcribe", json=run, headers=AUTH)
    api.post("/_simulator/advance", json={"seconds": 30})
    processed = second.wait_for("transcription.processed")
    assert processed["bot_id"] == bot["bot_id"]
    assert "custom_attributes" not in processed  # /transcribe events carry none (CP)
    time.sleep(0.3)
    assert second.events() == ["transcription.processed"]  # no bot.done
    second.close()


def test_the_official_sdk_reads_waits_lists_and_transcribes(simulator_server: str) -> None:
    origin = simulator_server.removesuffix("/api/v1")
    httpx.post(f"{origin}/_simulator/reset", timeout=5)
    with MeetStream(api_key="sim-demo-key", base_url=simulator_server, max_retries=0) as sdk:
        bot = sdk.bots.create(
            {"meeting_link": ZOOM, "bot_name": "SDK", "recording_config": DEEPGRAM}
        )
        with pytest.raises(NotReadyError):
            sdk.transcripts.get(bot["transcript_id"])
        httpx.post(f"{origin}/_simulator/advance", json={"seconds": 2000}, timeout=5)
        segments = sdk.transcripts.wait_for(bot["transcript_id"], timeout=5, interval=0.1)
        assert segments[0]["speaker"] == "Priya Raman"
        assert segments[0]["transcript"]
        raw = sdk.transcripts.get(bot["transcript_id"], raw=True)
        assert raw["utterances"]
        assert sdk.transcripts.list_for_bot(bot["bot_id"])["transcriptions"][0]["status"] == (
            "Success"
        )
        made = sdk.transcripts.transcribe_bot_audio(bot["bot_id"], {"provider": {"meetstream": {}}})
        assert made["transcript_id"] != bot["transcript_id"]
