"""The webhook receiver: signatures, replay window, size, duplicates, reordering, emission."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from meetstream_catalog.webhooks.app import ReceiverConfig, create_app

SECRET = "whsec_unit_test_secret"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.recorded: list[dict[str, Any]] = []

    def emit(self, name: str, resource: Mapping[str, str], payload: Mapping[str, Any]) -> None:
        self.events.append((name, dict(resource), dict(payload)))

    def record(self, rows: list[dict[str, Any]]) -> None:
        self.recorded.extend(rows)


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
async def post(sink: Sink):  # type: ignore[no-untyped-def]
    config = ReceiverConfig(
        secret=SECRET, emit=sink.emit, record=sink.record, max_body_bytes=2048, clock=lambda: NOW
    )
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:

        async def send(
            body: bytes | dict[str, Any],
            *,
            signature: str | None = "good",
            stamp: dt.datetime | None = NOW,
        ) -> httpx.Response:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"}
            digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
            if signature == "good":
                headers["X-MeetStream-Signature"] = f"sha256={digest}"
            elif signature == "bare":
                headers["X-MeetStream-Signature"] = digest
            elif signature is not None:
                headers["X-MeetStream-Signature"] = signature
            if stamp is not None:
                headers["X-MeetStream-Timestamp"] = stamp.isoformat()
            return await client.post("/webhooks/meetstream", content=raw, headers=headers)

        send.app = app  # type: ignore[attr-defined]
        yield send


def event(name: str, bot: str = "b1", status: str = "Stopped", **extra: Any) -> dict[str, Any]:
    return {"event": name, "bot_id": bot, "bot_status": status,
            "timestamp": NOW.isoformat(), **extra}  # fmt: skip


@pytest.mark.parametrize("signature", ["good", "bare"])
async def test_a_signed_event_is_accepted_and_emitted(post, sink: Sink, signature: str) -> None:
    response = await post(event("bot.inmeeting", status="InMeeting"), signature=signature)

    assert response.status_code == 200
    [(name, resource, payload)] = sink.events
    assert name == "meetstream.bot.inmeeting"
    assert resource["prefect.resource.id"] == "meetstream.bot.b1"
    assert resource["meetstream.terminal"] == "false"
    assert payload["bot_id"] == "b1"
    assert payload["event"] == "bot.inmeeting"


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha256=zz", ""])
async def test_unsigned_or_wrongly_signed_requests_get_401(post, sink: Sink, signature) -> None:
    response = await post(event("bot.done"), signature=signature)

    assert response.status_code == 401
    assert sink.events == []
    assert SECRET not in response.text


def test_a_signature_over_another_body_fails() -> None:
    from meetstream_catalog.webhooks.app import signature_ok

    body = b'{"event": "bot.done"}'
    good = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    assert signature_ok(SECRET, body, f"sha256={good}")
    assert not signature_ok(SECRET, body + b" ", f"sha256={good}")
    assert not signature_ok("other", body, f"sha256={good}")


@pytest.mark.parametrize("offset", [dt.timedelta(minutes=-6), dt.timedelta(minutes=6)])
async def test_stale_or_future_timestamps_are_refused(post, sink: Sink, offset) -> None:
    response = await post(event("bot.done"), stamp=NOW + offset)

    assert response.status_code == 401
    assert "window" in response.json()["message"]
    assert sink.events == []


async def test_a_timestamp_inside_the_window_passes(post) -> None:
    assert (await post(event("bot.done"), stamp=NOW - dt.timedelta(minutes=4))).status_code == 200


async def test_oversized_bodies_get_413(post, sink: Sink) -> None:
    response = await post(event("bot.done", message="x" * 5000))

    assert response.status_code == 413
    assert sink.events == []


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"event": "bot.done"}', b'{"bot_id": "b1"}']
)
async def test_bodies_that_are_not_webhooks_get_400(post, sink: Sink, body: bytes) -> None:
    assert (await post(body)).status_code == 400
    assert sink.events == []


async def test_a_duplicate_delivery_is_acknowledged_and_ignored(post, sink: Sink) -> None:
    first = await post(event("bot.done"))
    again = await post(event("bot.done"))

    assert first.json() == {"accepted": True}
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert len(sink.events) == 1


@pytest.mark.parametrize("status", ["NotAllowed", "Denied", "Error"])
async def test_a_failed_stop_is_terminal_and_the_later_done_does_not_trigger_again(
    post, sink: Sink, status: str
) -> None:
    await post(event("bot.stopped", status=status))
    await post(event("bot.done", status="Done"))

    terminal = [r["meetstream.terminal"] for _, r, _ in sink.events]
    assert terminal == ["true", "false"]


async def test_reordered_events_trigger_collection_once(post, sink: Sink) -> None:
    # bot.done overtakes bot.stopped (Stopped: a normal end, not terminal by itself)
    await post(event("bot.done", status="Done"))
    await post(event("bot.stopped", status="Stopped"))
    await post(event("bot.inmeeting", status="InMeeting"))

    assert [r["meetstream.terminal"] for _, r, _ in sink.events] == ["true", "false", "false"]


async def test_nothing_secret_or_url_like_is_emitted(post, sink: Sink) -> None:
    body = event("audio.processed", audio_url="https://bucket.s3/a.wav?X-Amz-Signature=x")
    await post(body)

    [(_, _, payload)] = sink.events
    assert "X-Amz-Signature" not in json.dumps(payload)
    assert "audio_url" not in payload


async def test_accepted_events_are_recorded_in_one_batch(post, sink: Sink) -> None:
    for name in ("bot.joining", "bot.inmeeting", "bot.stopped"):
        await post(event(name))

    receiver = post.app.state.receiver
    assert receiver.flush() == 3
    assert [r["event"] for r in sink.recorded] == ["bot.joining", "bot.inmeeting", "bot.stopped"]
    assert receiver.flush() == 0


def test_recorded_events_land_in_the_catalogs_bot_events_table(tmp_path: Path) -> None:
    from meetstream_catalog.catalog import read_table
    from meetstream_catalog.roots import Root
    from meetstream_catalog.webhooks.server import _recorder

    root = str(tmp_path / "catalog")
    record = _recorder(Root(root))
    record([event("bot.joining", status="Joining"), event("bot.done", status="Done")])
    frame = read_table("bot_events", root, filters=[("event_date", "=", NOW.date().isoformat())])
    assert frame["event"].tolist() == ["bot.joining", "bot.done"]
    assert frame["timestamp"].tolist() == [NOW, NOW]
