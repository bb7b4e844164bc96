"""The official meetstream-sdk, unchanged, against the simulator over a real socket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from meetstream import MeetStream, NotReadyError, PermissionError

LINK = "https://zoom.us/j/1000000001"


@pytest.fixture
def sdk(simulator_server: str) -> Iterator[MeetStream]:
    httpx.post(simulator_server.removesuffix("/api/v1") + "/_simulator/reset", timeout=5)
    with MeetStream(api_key="sim-demo-key", base_url=simulator_server, max_retries=0) as client:
        yield client


def _advance(simulator_server: str, seconds: float) -> None:
    origin = simulator_server.removesuffix("/api/v1")
    httpx.post(f"{origin}/_simulator/advance", json={"seconds": seconds}, timeout=5)


def test_sdk_create_status_and_manifests(sdk: MeetStream, simulator_server: str) -> None:
    params = {"meeting_link": LINK, "bot_name": "SDK", "audio_separate_streams": True,
              "video_separate_streams": True}  # fmt: skip
    bot = sdk.bots.create(params)
    assert bot["status"] == "Active"
    _advance(simulator_server, 100)
    assert sdk.bots.status(bot["bot_id"])["status"] == "Recording"
    _advance(simulator_server, 840)  # stopped, still processing
    with pytest.raises(NotReadyError):
        sdk.bots.audio_streams(bot["bot_id"])
    _advance(simulator_server, 200)
    audio = sdk.bots.audio_streams(bot["bot_id"])
    assert audio["audio_streams_available"] is True
    video = sdk.bots.recording_streams(bot["bot_id"])
    assert video["summary"]["total_screenshares"] == 1


def test_sdk_idempotent_replay_returns_the_same_bot(sdk: MeetStream) -> None:
    key = str(uuid.uuid4())
    params = {"meeting_link": LINK, "bot_name": "SDK"}
    first = sdk.bots.create(params, idempotency_key=key)
    again = sdk.bots.create(params, idempotency_key=key)  # HTTP 507 = success for the SDK
    assert again["bot_id"] == first["bot_id"]
    assert again["transcript_id"] is None


def test_sdk_with_a_wrong_key_is_rejected(simulator_server: str) -> None:
    client = MeetStream(api_key="nope", base_url=simulator_server, max_retries=0)
    with client, pytest.raises(PermissionError, match="Invalid token"):  # 403, not 401
        client.bots.status("x")


def test_sdk_lists_the_account_and_the_calendar_scheduled_bots(sdk: MeetStream) -> None:
    first = sdk.bots.create({"meeting_link": LINK, "bot_name": "SDK"})
    listed = sdk.bots.list()
    assert [b["bot_id"] for b in listed["bots"]] == [first["bot_id"]]
    assert listed["hasNextPage"] is False
    assert sdk.calendar.list_scheduled_bots()["scheduled_bots"] == []
