"""The simulator over a real socket: ranges, dropped connections, signed webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from meetstream import verify_webhook_signature

from tests.integration.simulator_calls import AUTH, Receiver

ZOOM = "https://zoom.us/j/1000000001"
DENIED = "https://meet.google.com/den-iedx-bot"


@pytest.fixture
def api(simulator_server: str) -> Iterator[httpx.Client]:
    origin = simulator_server.removesuffix("/api/v1")
    with httpx.Client(base_url=origin, timeout=10) as client:
        assert client.post("/_simulator/reset").status_code == 200
        yield client


def _finished_bot(api: httpx.Client, link: str = ZOOM, **extra: Any) -> str:
    body = {"meeting_link": link, "bot_name": "A", "audio_separate_streams": True,
            "video_separate_streams": True} | extra  # fmt: skip
    created = api.post("/api/v1/bots/create_bot", json=body, headers=AUTH)
    assert created.status_code == 201
    assert api.post("/_simulator/advance", json={"seconds": 5000}).status_code == 200
    bot_id: str = created.json()["bot_id"]
    return bot_id


def test_auth_over_the_socket(api: httpx.Client) -> None:
    assert api.get("/api/v1/bots/x/status").status_code == 401
    assert (
        api.get("/api/v1/bots/x/status", headers={"Authorization": "Token no"}).status_code == 403
    )
    assert api.get("/api/v1/bots/x/status", headers=AUTH).status_code == 404


def test_streamed_download_and_range_over_the_socket(api: httpx.Client) -> None:
    bot_id = _finished_bot(api)
    body = api.get(f"/api/v1/bots/{bot_id}/get_recording_streams", headers=AUTH).json()
    url = body["participants"][0]["streams"][0]["segments"][0]["url"]
    with api.stream("GET", url) as response:
        assert response.status_code == 200
        size = int(response.headers["content-length"])
        data = b"".join(response.iter_bytes())
    assert len(data) == size > 1_000_000  # 15 meeting-minutes of webcam: a multi-MB file
    part = api.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == data[1000:2000]


def test_connection_dropped_mid_body(api: httpx.Client) -> None:
    bot_id = _finished_bot(api)
    url = api.get(f"/api/v1/bots/{bot_id}/get_audio", headers=AUTH).json()["audio_url"]
    rule = {"endpoint": "media", "drop_after_bytes": 50_000, "count": 1}
    assert api.post("/_simulator/faults", json=rule).status_code == 201
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(url)
    assert api.get(url).status_code == 200


def test_retry_after_and_5xx_over_the_socket(api: httpx.Client) -> None:
    bot_id = _finished_bot(api)
    api.post("/_simulator/faults", json={"endpoint": "*", "status": 429, "retry_after": 7})
    api.post("/_simulator/faults", json={"endpoint": "get_audio", "status": 503})
    throttled = api.get(f"/api/v1/bots/{bot_id}/status", headers=AUTH)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    assert api.get(f"/api/v1/bots/{bot_id}/get_audio", headers=AUTH).status_code == 503


def test_signed_webhooks_arrive_in_order_ending_with_done(
    api: httpx.Client, receiver: Receiver
) -> None:
    _finished_bot(api, callback_url=receiver.url, custom_attributes={"job": "9"})
    receiver.wait_for("bot.done")
    assert receiver.events() == [
        "bot.joining", "bot.in_waiting_room", "bot.inmeeting", "bot.recording", "bot.leaving",
        "bot.stopped", "manifest.completed", "audio.processed", "video.processed", "bot.done",
    ]  # fmt: skip
    for body, headers in receiver.calls:
        assert verify_webhook_signature(
            body, headers["x-meetstream-signature"], "sim-webhook-secret"
        )
        assert headers["x-meetstream-signature"].startswith("sha256=")
        assert "x-meetstream-timestamp" in headers
        envelope = json.loads(body)
        assert envelope["custom_attributes"] == {"job": "9"}
        assert set(envelope) >= {"event", "bot_event", "bot_id", "bot_status", "message",
                                 "status_code", "timestamp"}  # fmt: skip


def test_denied_bot_webhooks(api: httpx.Client, receiver: Receiver) -> None:
    _finished_bot(api, DENIED, callback_url=receiver.url)
    receiver.wait_for("bot.done")
    assert receiver.events() == ["bot.joining", "bot.in_waiting_room", "bot.stopped", "bot.done"]
    stopped = json.loads(receiver.calls[2][0])
    assert (stopped["bot_event"], stopped["bot_status"]) == ("bot.denied", "Denied")
