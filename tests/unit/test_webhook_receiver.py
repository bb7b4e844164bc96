"""The webhook receiver: signatures, callback tokens, replay window, size, duplicates,
reordering, known bots, emission and the /health counters."""

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

from meetstream_catalog.catalog.pending import KnownBot
from meetstream_catalog.webhooks.app import ReceiverConfig, create_app
from meetstream_catalog.webhooks.auth import make_token
from meetstream_catalog.webhooks.known import KnownBots

SECRET = "whsec_unit_test_secret"
TOKEN_KEY = "tk_unit_current_key"
OLD_TOKEN_KEY = "tk_unit_previous_key"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
# The catalog's bots: b1 and b2 in progress (created with keys k1, k2), b3 captured.
BOTS = {
    "b1": KnownBot("k1", finished=False),
    "b2": KnownBot("k2", finished=False),
    "b3": KnownBot("k3", finished=True),
}


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.recorded: list[dict[str, Any]] = []
        self.reads = 0

    def emit(self, name: str, resource: Mapping[str, str], payload: Mapping[str, Any]) -> None:
        self.events.append((name, dict(resource), dict(payload)))

    def record(self, rows: list[dict[str, Any]]) -> None:
        self.recorded.extend(rows)

    def bots(self) -> Mapping[str, KnownBot]:
        self.reads += 1
        return BOTS


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def insecure() -> bool:
    return False


@pytest.fixture
async def post(sink: Sink, insecure: bool):  # type: ignore[no-untyped-def]
    config = ReceiverConfig(
        secret=SECRET,
        token_keys=(TOKEN_KEY, OLD_TOKEN_KEY),
        insecure=insecure,
        emit=sink.emit,
        record=sink.record,
        known=KnownBots(sink.bots, min_interval=0.01),
        max_body_bytes=2048,
        clock=lambda: NOW,
    )
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:

        async def send(
            body: bytes | dict[str, Any],
            *,
            signature: str | None = "good",
            stamp: dt.datetime | None = NOW,
            token: tuple[str, str] | None = None,
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
            params = {"request": token[0], "token": token[1]} if token else None
            return await client.post(
                "/webhooks/meetstream", content=raw, headers=headers, params=params
            )

        send.app = app  # type: ignore[attr-defined]
        send.client = client  # type: ignore[attr-defined]
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
    post.app.state.receiver.flush()
    assert sink.recorded == []


def test_a_signature_over_another_body_fails() -> None:
    from meetstream_catalog.webhooks.auth import signature_ok

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


# --- Callback tokens: the proof when MeetStream does not sign (issue 24) ---


@pytest.mark.parametrize("key", [TOKEN_KEY, OLD_TOKEN_KEY])
async def test_an_unsigned_delivery_with_its_bots_token_is_accepted_under_either_key(
    post, sink: Sink, key: str
) -> None:
    response = await post(event("bot.done"), signature=None, token=("k1", make_token(key, "k1")))

    assert response.status_code == 200
    [(name, resource, _)] = sink.events
    assert (name, resource["meetstream.terminal"]) == ("meetstream.bot.done", "true")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (("k1", make_token("a-retired-key", "k1")), "bad_token"),  # neither current nor previous
        (("k2", make_token(TOKEN_KEY, "k1")), "bad_token"),  # k1's token, another key named
        (("k1", ""), "unauthenticated"),
        (None, "unauthenticated"),
    ],
)
async def test_an_unsigned_delivery_without_a_valid_token_gets_401_and_leaves_nothing(
    post, sink: Sink, token: tuple[str, str] | None, reason: str
) -> None:
    response = await post(event("bot.done"), signature=None, token=token)

    assert response.status_code == 401
    receiver = post.app.state.receiver
    receiver.flush()
    assert (sink.events, sink.recorded, sink.reads) == ([], [], 0)  # not even a catalog read
    assert receiver.health()["rejected_by_reason"][reason] == 1


async def test_a_token_for_one_request_cannot_start_work_for_another_requests_bot(
    post, sink: Sink
) -> None:
    # A valid token for k1, leaked, used to claim the end of b2 (k2's bot) and of an
    # invented bot: both are recorded, flagged, and nothing is emitted.
    leaked = ("k1", make_token(TOKEN_KEY, "k1"))
    for bot in ("b2", "an-invented-bot"):
        assert (await post(event("bot.done", bot=bot), signature=None, token=leaked)).is_success

    receiver = post.app.state.receiver
    receiver.flush()
    assert sink.events == []
    assert [(r["bot_id"], r["unknown_bot"]) for r in sink.recorded] == [
        ("b2", True),
        ("an-invented-bot", True),
    ]
    assert receiver.health()["unknown_bot"] == 2
    assert receiver.health()["triggered"] == 0


async def test_a_signed_event_for_a_bot_the_catalog_does_not_know_starts_nothing(
    post, sink: Sink
) -> None:
    await post(event("bot.done", bot="not-ours"))
    await post(event("bot.done", bot="b3", status="Done"))  # known, but already captured

    receiver = post.app.state.receiver
    receiver.flush()
    assert [r["meetstream.terminal"] for _, r, _ in sink.events] == ["false"]  # b3 only
    assert [(r["bot_id"], r["unknown_bot"]) for r in sink.recorded] == [
        ("not-ours", True),
        ("b3", False),
    ]


async def test_a_flood_of_terminal_events_triggers_one_collection_per_bot(post, sink: Sink) -> None:
    token = ("k1", make_token(TOKEN_KEY, "k1"))
    for n in range(50):  # distinct timestamps: no duplicate, each a new delivery
        stamp = (NOW + dt.timedelta(seconds=n)).isoformat()
        await post(event("bot.done", timestamp=stamp), signature=None, token=token)
        await post(event("bot.done", timestamp=stamp))

    terminal = [r["meetstream.terminal"] for _, r, _ in sink.events]
    assert terminal.count("true") == 1
    assert post.app.state.receiver.health()["triggered"] == 1


async def test_invented_bots_cost_a_bounded_number_of_catalog_reads(sink: Sink) -> None:
    moments = iter(float(n) for n in range(10_000))
    known = KnownBots(sink.bots, min_interval=5.0, clock=lambda: next(moments))

    found = [await known.get(f"invented-{n}") for n in range(100)]  # 1 s apart per lookup

    assert found == [None] * 100
    assert known.reads <= 100 * 2 / 5 + 1  # at most one read per 5 s of clock


async def test_a_terminal_event_missing_from_the_index_waits_for_a_newer_read() -> None:
    tables = [{}, {"late": KnownBot("k9", finished=False)}]  # the row lands after read 1
    known = KnownBots(lambda: tables.pop(0), min_interval=0.05)

    assert await known.get("late") is None  # first read: not there yet
    assert await known.get("late") is None  # within the interval: not read again
    assert await known.get("late", fresh=True) == KnownBot("k9", finished=False)


@pytest.mark.parametrize("insecure", [True])
async def test_insecure_mode_accepts_the_unauthenticated_and_says_so_each_time(
    post, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    response = await post(event("bot.done"), signature=None)

    assert response.status_code == 200
    assert len(sink.events) == 1  # b1 is known: insecure skips authentication, not the catalog
    assert "INSECURE" in caplog.text
    health = post.app.state.receiver.health()
    assert (health["insecure"], health["insecure_accepted"]) == (True, 1)


async def test_health_counts_by_reason_and_holds_no_secret(post) -> None:
    await post(event("bot.done"))  # accepted
    await post(event("bot.done"))  # duplicate
    await post(event("bot.done", bot="nobody"))  # unknown bot
    await post(event("bot.done"), signature="sha256=" + "0" * 64)  # bad signature
    await post(event("bot.done"), stamp=NOW - dt.timedelta(hours=1))  # stale
    await post(event("bot.done", message="x" * 5000))  # oversized
    await post(b"[1]")  # malformed
    token = ("k1", make_token(TOKEN_KEY, "k1"))
    await post(event("bot.inmeeting"), signature=None, token=(token[0], token[1][::-1]))

    response = await post.client.get("/health")

    health = response.json()
    assert health["accepted"] == 2
    assert health["duplicate"] == 1
    assert health["unknown_bot"] == 1
    assert health["triggered"] == 1
    assert health["rejected"] == 5
    assert health["rejected_by_reason"] == {
        "unauthenticated": 0,
        "bad_signature": 1,
        "bad_token": 1,
        "stale": 1,
        "oversized": 1,
        "malformed": 1,
    }
    for secret in (SECRET, TOKEN_KEY, OLD_TOKEN_KEY, token[1]):
        assert secret not in response.text
