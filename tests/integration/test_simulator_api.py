"""The simulator's REST contract, in-process through httpx.ASGITransport (manual clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from meetstream_catalog.simulator.app import create_app
from meetstream_catalog.simulator.scenario import load_scenario
from meetstream_catalog.simulator.state import SimulatorConfig
from tests.integration.simulator_calls import AUTH, DEMO, advance, create_bot

ZOOM = "https://zoom.us/j/1000000001"
MEET_DUP = "https://meet.google.com/abc-defg-hij"
TEAMS = "https://teams.microsoft.com/l/meetup-join/demo-teams-meeting"
BIG = "https://zoom.us/j/1000000018"
DENIED = "https://meet.google.com/den-iedx-bot"


class Wall:
    """A settable wall clock, so URL expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
async def client(wall: Wall) -> AsyncIterator[httpx.AsyncClient]:
    config = SimulatorConfig(speed=0.0, scenario=load_scenario(DEMO), wall_clock=wall)
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as c:
        yield c


async def _get(c: httpx.AsyncClient, bot_id: str, what: str) -> httpx.Response:
    return await c.get(f"/api/v1/bots/{bot_id}/{what}", headers=AUTH)


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer sim-demo-key"}, 401),
     ({"Authorization": "Token wrong"}, 403)],
)  # fmt: skip
async def test_auth_needs_the_token_scheme_and_the_right_key(
    client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    r = await client.post("/api/v1/bots/create_bot", json={"meeting_link": ZOOM}, headers=headers)
    assert r.status_code == status
    assert "message" in r.json()


async def test_idempotency_key_replays_the_original_bot_with_507(client: httpx.AsyncClient) -> None:
    body = {"meeting_link": ZOOM, "bot_name": "A", "recording_config": {
        "transcript": {"provider": {"deepgram": {"model": "nova-3"}}}}}  # fmt: skip
    first = await client.post("/api/v1/bots/create_bot", json=body,
                              headers=AUTH | {"Idempotency-Key": "k-1"})  # fmt: skip
    assert first.status_code == 201
    assert first.json()["status"] == "Active"
    assert first.json()["transcript_id"]
    await advance(client, 30)  # 5 s joining + 20 s waiting room + 2 s to Recording
    again = await client.post("/api/v1/bots/create_agent", json={"bogus": True},
                              headers=AUTH | {"idempotency-key": "k-1"})  # fmt: skip
    assert again.status_code == 507
    assert again.json()["bot_id"] == first.json()["bot_id"]
    assert again.json()["transcript_id"] is None
    assert again.json()["status"] == "Recording"


async def test_deduplication_key_returns_200_or_409(client: httpx.AsyncClient) -> None:
    bot = await create_bot(client, ZOOM, deduplication_key="job-7")
    same = await client.post("/api/v1/bots/create_bot", headers=AUTH, json={
        "meeting_link": ZOOM, "bot_name": "A", "deduplication_key": "job-7"})  # fmt: skip
    assert same.status_code == 200
    assert same.json()["bot_id"] == bot["bot_id"]
    other = await client.post("/api/v1/bots/create_bot", headers=AUTH, json={
        "meeting_link": MEET_DUP, "bot_name": "A", "deduplication_key": "job-7"})  # fmt: skip
    assert other.status_code == 409


@pytest.mark.parametrize(
    ("body", "message"),
    [({"bot_name": "A"}, "meeting_link is required."),
     ({"meeting_link": ZOOM}, "bot_name is required."),
     ({"meeting_link": ZOOM, "bot_name": "A",
       "automatic_leave": {"in_call_recording_timeout": 599}},
      "in_call_recording_timeout must be at least 600 seconds."),
     ({"meeting_link": ZOOM, "bot_name": "A",
       "automatic_leave": {"recording_permission_denied_timeout": 301}},
      "recording_permission_denied_timeout must not exceed 300 seconds.")],
)  # fmt: skip
async def test_validation_errors_are_400_with_a_message(
    client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    r = await client.post("/api/v1/bots/create_bot", json=body, headers=AUTH)
    assert r.status_code == 400
    assert r.json() == {"message": message}


async def test_manifests_go_404_then_202_then_200(client: httpx.AsyncClient) -> None:
    bot_id = (await create_bot(client, ZOOM, custom_attributes={"job": "1"}))["bot_id"]
    await advance(client, 100)
    status = (await _get(client, bot_id, "status")).json()
    assert status == {"bot_id": bot_id, "status": "Recording", "custom_attributes": {"job": "1"}}
    video = await _get(client, bot_id, "get_recording_streams")
    assert video.status_code == 404
    assert "No video processing has been initiated" in video.json()["message"]
    assert (await _get(client, bot_id, "get_audio_streams")).status_code == 404
    await advance(client, 930 - 100)  # recording 27..927, Stopped at 929
    audio = await _get(client, bot_id, "get_audio_streams")
    assert audio.status_code == 202
    assert audio.json()["audio_status"] == "in_progress"
    video = await _get(client, bot_id, "get_recording_streams")
    assert video.status_code == 202
    assert "stage" in video.json()
    await advance(client, 40)  # audio ready (30 s), video not yet (60 s)
    assert (await _get(client, bot_id, "get_audio_streams")).status_code == 200
    assert (await _get(client, bot_id, "get_recording_streams")).status_code == 202
    await advance(client, 60)
    assert (await _get(client, bot_id, "status")).json()["status"] == "Done"
    audio_body = (await _get(client, bot_id, "get_audio_streams")).json()
    names = [p["participant_name"] for p in audio_body["participants"]]
    assert names == ["Priya Raman", "Marco Rossi"]  # camera-only and silent people have no audio
    video_body = (await _get(client, bot_id, "get_recording_streams")).json()
    cams = {p["participant_name"]: p["streams"][0]["segments"] for p in video_body["participants"]}
    assert sorted(cams) == ["Camille Laurent", "Marco Rossi", "Priya Raman"]
    assert [s["segment_index"] for s in cams["Marco Rossi"]] == [0, 1]
    assert video_body["screenshares"][0]["participant_name"] == "Priya Raman"
    mixed = (await _get(client, bot_id, "get_audio")).json()["audio_url"]
    assert "X-Amz-Expires=3600" in mixed
    composite = (await _get(client, bot_id, "get_video")).json()
    assert composite["video_info"]["duration"] == 900


async def _done(client: httpx.AsyncClient, link: str, **extra: Any) -> str:
    bot_id: str = (await create_bot(client, link, **extra))["bot_id"]
    await advance(client, 5000)
    return bot_id


async def test_platform_rules_in_manifests(client: httpx.AsyncClient) -> None:
    teams = await _done(client, TEAMS)
    body = (await _get(client, teams, "get_audio_streams")).json()
    assert body["audio_streams_available"] is False
    assert "Teams" in body["message"]
    big = await _done(client, BIG)
    audio = (await _get(client, big, "get_audio_streams")).json()
    assert audio["summary"]["total_participants"] == 16
    video = (await _get(client, big, "get_recording_streams")).json()
    assert video["summary"]["total_participants"] == 8
    meet = await _done(client, MEET_DUP)
    people = (await _get(client, meet, "get_audio_streams")).json()["participants"]
    assert [p["participant_name"] for p in people].count("Alex Kim") == 2
    assert len({p["streams"][0]["stream_id"] for p in people}) == 3


async def test_denied_bot_and_flag_off_give_no_streams(client: httpx.AsyncClient) -> None:
    denied = await _done(client, DENIED)
    assert (await _get(client, denied, "status")).json()["status"] == "Done"
    body = (await _get(client, denied, "get_recording_streams")).json()
    assert body["recording_streams_available"] is False
    assert (await _get(client, denied, "get_audio")).status_code == 404
    off = await _done(client, ZOOM, audio_separate_streams=False, video_separate_streams=False)
    assert (await _get(client, off, "get_audio_streams")).json()["audio_streams_available"] is False


async def test_flat_video_shape_on_request(wall: Wall) -> None:
    config = SimulatorConfig(speed=0.0, scenario=load_scenario(DEMO), video_shape="flat")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(config)),
                                 base_url="http://sim.test") as c:  # fmt: skip
        bot_id = await _done(c, ZOOM)
        body = (await _get(c, bot_id, "get_recording_streams")).json()
    assert isinstance(body, list)
    assert {"participant", "download_url", "type"} <= set(body[0])
    assert {item["type"] for item in body} == {"webcam", "screenshare"}


async def test_media_ranges_etag_and_expiry(client: httpx.AsyncClient, wall: Wall) -> None:
    bot_id = await _done(client, ZOOM)
    body = (await _get(client, bot_id, "get_audio_streams")).json()
    url = body["participants"][0]["streams"][0]["segments"][0]["url"]
    whole = await client.get(url)
    assert whole.status_code == 200
    assert whole.content[:4] == b"\x1a\x45\xdf\xa3"
    assert int(whole.headers["content-length"]) == len(whole.content)
    assert whole.headers["accept-ranges"] == "bytes"
    part = await client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert part.headers["etag"] == whole.headers["etag"]
    tail = await client.get(url, headers={"Range": f"bytes={len(whole.content) - 5}-"})
    assert tail.content == whole.content[-5:]
    bad = await client.get(url, headers={"Range": f"bytes={len(whole.content)}-"})
    assert bad.status_code == 416
    tampered = await client.get(url.replace("X-Amz-Expires=600", "X-Amz-Expires=6000"))
    assert tampered.status_code == 403
    wall.now += 601
    expired = await client.get(url)
    assert expired.status_code == 403
    assert b"<Code>AccessDenied</Code>" in expired.content
    assert b"Request has expired" in expired.content


async def test_faults_429_500_and_early_expiry(client: httpx.AsyncClient) -> None:
    bot_id = await _done(client, ZOOM)
    rules = {"rules": [
        {"endpoint": "status", "status": 429, "retry_after": 3, "count": 1},
        {"endpoint": "status", "status": 500, "count": 1},
        {"endpoint": "get_audio_streams", "expire_after": 0, "count": 1},
    ]}  # fmt: skip
    assert (await client.post("/_simulator/faults", json=rules)).status_code == 201
    throttled = await _get(client, bot_id, "status")
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "3"
    assert (await _get(client, bot_id, "status")).status_code == 500
    assert (await _get(client, bot_id, "status")).status_code == 200
    body = (await _get(client, bot_id, "get_audio_streams")).json()
    url = body["participants"][0]["streams"][0]["segments"][0]["url"]
    assert (await client.get(url)).status_code == 403
    assert (await client.get("/_simulator/faults")).json() == {"faults": []}


async def test_drop_mid_body_surfaces_as_a_protocol_error_in_process(
    client: httpx.AsyncClient,
) -> None:
    bot_id = await _done(client, ZOOM)
    url = (await _get(client, bot_id, "get_audio")).json()["audio_url"]
    await client.post("/_simulator/faults", json={"endpoint": "media", "drop_after_bytes": 1000})
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(url)
    assert (await client.get(url)).status_code == 200  # the fault fired once


async def test_remove_bot_delete_participants_and_timeline(client: httpx.AsyncClient) -> None:
    bot_id = (await create_bot(client, ZOOM))["bot_id"]
    await advance(client, 200)
    people = (await _get(client, bot_id, "get_participants")).json()
    assert [p["humanized_status"] for p in people] == ["joined"] * 4
    assert (await _get(client, bot_id, "remove_bot")).status_code == 200
    await advance(client, 3)
    assert (await _get(client, bot_id, "status")).json()["status"] == "Stopped"
    assert (await _get(client, bot_id, "remove_bot")).status_code == 404
    await advance(client, 100)
    timeline = (await _get(client, bot_id, "get_speaker_timeline")).json()
    assert timeline["chunks"][0]["speakerName"] == "Priya Raman"
    detail = (await _get(client, bot_id, "detail")).json()["bot_details"]
    assert "Stopped" in detail["StatusTimeline"]
    deleted = await client.delete(f"/api/v1/bots/{bot_id}/delete", headers=AUTH)
    assert deleted.json()["deleted_objects"] > 0
    assert (await _get(client, bot_id, "status")).status_code == 404
