"""The webhook receiver as an operator starts it (docs/deploy.md, "Webhooks"): its own
process, `meetstream-catalog webhooks`, keys from the environment, emitting to a Prefect
API (the session's test API) and appending to a catalog on disk.

What it proves: hostile deliveries (forged, unsigned, token-less, wrong or misplaced
tokens, stale, oversized, malformed) leave no Prefect event, no row and so no flow run
(collect-bot runs are started by events only); an authenticated delivery for a bot the
catalog does not know leaves one flagged row and nothing else; and the simulator's
UNSIGNED callbacks to the URL a webhook-mode capture built get in by its token alone,
which then appears in no log line, event, artifact or catalog file.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from meetstream_catalog import catalog
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.webhooks.auth import make_token

pytestmark = pytest.mark.usefixtures("prefect_api")

TOKEN_KEY = "tk_integration_current"
OLD_TOKEN_KEY = "tk_integration_previous"
SECRET = "whsec_integration_secret"
BIN = Path(sys.executable).parent
KNOWN_BOT, KNOWN_KEY = "bot-known-1", "key-known-1"


@dataclass
class Receiver:
    url: str
    catalog_root: Path
    log: Path

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(self.url.replace("/webhooks/meetstream", "/health")).json()
        return data


def _free_port() -> int:
    from tests.conftest import free_port

    return free_port()


def _prefect_api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the prefect_api fixture sets it"
    return str(url)


@contextlib.contextmanager
def _receiver_process(env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    """`meetstream-catalog webhooks --port PORT`, stopped by its PID."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "meetstream-catalog"), "webhooks", "--port", str(port),
             "--log-level", "info"],  # info: uvicorn prints every request line
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).is_success:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETSTREAM_")}
    return {**env, "PREFECT_API_URL": _prefect_api_url(), **extra}


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """The receiver with both keys, as docs/deploy.md starts it, over a catalog that knows
    one in-progress bot."""
    tmp = tmp_path_factory.mktemp("receiver")
    root = tmp / "catalog"
    bot = catalog.bot_record(bot_id=KNOWN_BOT, request_id=KNOWN_KEY, outcome=Outcome.IN_PROGRESS)
    catalog.write_bot_row(str(root), bot)
    port = _free_port()
    env = _env(
        MEETSTREAM_WEBHOOK_SECRET=SECRET,
        MEETSTREAM_WEBHOOK_TOKEN_KEY=TOKEN_KEY,
        MEETSTREAM_WEBHOOK_TOKEN_KEY_PREVIOUS=OLD_TOKEN_KEY,
        MEETSTREAM_CATALOG_ROOT=str(root),
    )
    log = tmp / "receiver.log"
    with _receiver_process(env, port, log):
        yield Receiver(f"http://127.0.0.1:{port}/webhooks/meetstream", root, log)


def _events(since: dt.datetime) -> list[dict[str, Any]]:
    """Every `meetstream.*` Prefect event the API recorded since `since`."""
    body = {
        "filter": {"occurred": {"since": since.isoformat()}, "event": {"prefix": ["meetstream."]}},
        "limit": 50,
    }
    response = httpx.post(f"{_prefect_api_url()}/events/filter", json=body, timeout=30)
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def _wait_for_events(since: dt.datetime, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while len(found := _events(since)) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} events recorded"
        time.sleep(0.5)
    return found


def _rows(receiver: Receiver, count: int) -> pd.DataFrame:
    """The bot_events rows, once `count` are there (appended once a second)."""
    deadline = time.monotonic() + 30
    while len(rows := catalog.read_table("bot_events", str(receiver.catalog_root))) < count:
        assert time.monotonic() < deadline, f"{len(rows)} of {count} rows"
        time.sleep(0.5)
    return rows


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def _done(bot_id: str) -> bytes:
    stamp = dt.datetime.now(dt.UTC).isoformat()
    return json.dumps({"event": "bot.done", "bot_id": bot_id, "bot_status": "Done",
                       "timestamp": stamp}).encode()  # fmt: skip


def _token(key: str, token_key: str = TOKEN_KEY) -> dict[str, str]:
    return {"request": key, "token": make_token(token_key, key)}


def _hostile(now: dt.datetime) -> list[tuple[str, dict[str, Any], int]]:
    """(case, request arguments, expected status): every one names the known bot."""
    body = _done(KNOWN_BOT)
    stale = (now - dt.timedelta(hours=1)).isoformat()
    return [
        ("forged signature", {"headers": {"X-MeetStream-Signature": "sha256=" + "0" * 64}}, 401),
        ("unsigned, no token", {}, 401),
        ("token of another request", {"params": {**_token("key-x"), "request": KNOWN_KEY}}, 401),
        ("token under a retired key", {"params": _token(KNOWN_KEY, "tk_retired")}, 401),
        ("request key without token", {"params": {"request": KNOWN_KEY}}, 401),
        (
            "signed but stale",
            {
                "content": body,
                "headers": {"X-MeetStream-Signature": _sign(body), "X-MeetStream-Timestamp": stale},
            },
            401,
        ),
        (
            "token but stale",
            {"params": _token(KNOWN_KEY), "headers": {"X-MeetStream-Timestamp": stale}},
            401,
        ),
        (
            "oversized",
            {
                "params": _token(KNOWN_KEY),
                "content": body[:-1] + b', "pad": "' + b"x" * 70_000 + b'"}',
            },
            413,
        ),
        ("malformed", {"params": _token(KNOWN_KEY), "content": b"[1, 2]"}, 400),
    ]


def test_forged_unsigned_and_token_less_deliveries_leave_no_event_row_or_run(
    receiver: Receiver,
) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    for case, arguments, status in _hostile(since):
        request = {"content": _done(KNOWN_BOT), **arguments}
        response = httpx.post(receiver.url, timeout=10, **request)
        assert response.status_code == status, case

    # Authenticated, but for bots that are not the delivery's: a token for a request the
    # catalog does not know, and a valid token of the known bot naming another bot.
    invented = httpx.post(receiver.url, content=_done("bot-invented"), params=_token("key-x"))
    misused = httpx.post(receiver.url, content=_done("bot-other"), params=_token(KNOWN_KEY))
    # The control: the known bot's own token, unsigned, under the previous key.
    genuine = httpx.post(
        receiver.url, content=_done(KNOWN_BOT), params=_token(KNOWN_KEY, OLD_TOKEN_KEY)
    )

    assert (invented.status_code, misused.status_code, genuine.status_code) == (200, 200, 200)
    rows = _rows(receiver, 3)
    assert sorted(zip(rows.bot_id, rows.unknown_bot, strict=True)) == [
        ("bot-invented", True),
        ("bot-known-1", False),
        ("bot-other", True),
    ]
    [event] = _wait_for_events(since, 1)  # the control's: nothing else was emitted
    time.sleep(2)  # let a stray event, if any, reach the API
    assert len(_events(since)) == 1
    assert event["resource"]["prefect.resource.id"] == f"meetstream.bot.{KNOWN_BOT}"
    assert event["resource"]["meetstream.terminal"] == "true"
    health = receiver.health()
    assert health["rejected"] == len(_hostile(since))
    assert health["rejected_by_reason"] == {
        "unauthenticated": 2,
        "bad_signature": 1,
        "bad_token": 2,
        "stale": 2,
        "oversized": 1,
        "malformed": 1,
    }
    assert health["unknown_bot"] == 2
    assert health["triggered"] == 1


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({}, "MEETSTREAM_WEBHOOK_TOKEN_KEY"),  # no key at all
        ({"MEETSTREAM_WEBHOOK_TOKEN_KEY": "short"}, "shorter than 16 characters"),
        # Without a Prefect API its events would go to a temporary server and be lost.
        ({"MEETSTREAM_WEBHOOK_TOKEN_KEY": TOKEN_KEY}, "set PREFECT_API_URL"),
    ],
)
def test_a_receiver_that_could_not_do_its_job_refuses_to_start_in_one_line(
    tmp_path: Path, settings: dict[str, str], named: str
) -> None:
    done = subprocess.run(
        [str(BIN / "meetstream-catalog"), "webhooks", "--port", str(_free_port())],
        env={**_env(MEETSTREAM_CATALOG_ROOT=str(tmp_path), **settings), "PREFECT_API_URL": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert named in done.stderr
    assert "Traceback" not in done.stderr


async def test_unsigned_callbacks_get_in_by_their_token_and_the_token_is_nowhere(
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prefect.client.orchestration import get_client

    from flows.capture import capture_meeting
    from meetstream_catalog.cli.demo import DEMO_SCENARIO
    from meetstream_catalog.request import MeetingRequest
    from meetstream_catalog.simulator.scenario import load_scenario
    from meetstream_catalog.simulator.server import serve_in_thread
    from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

    caplog.set_level(logging.DEBUG)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    # MeetStream may send per-bot callbacks unsigned: so does this simulator.
    unsigned = SimulatorConfig(
        scenario=load_scenario(DEMO_SCENARIO), speed=600, webhook_secret=None
    )
    with serve_in_thread(unsigned) as api_url:
        for name, value in {
            "API_URL": api_url,
            "API_KEY": DEMO_API_KEY,
            "CATALOG_ROOT": str(receiver.catalog_root),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "WEBHOOK_URL": receiver.url,
            "WEBHOOK_TOKEN_KEY": TOKEN_KEY,
        }.items():
            monkeypatch.setenv(f"MEETSTREAM_{name}", value)
        request = MeetingRequest(meeting_link="https://zoom.us/j/1000000001", bot_name="Hooked")
        result = await capture_meeting(request, mode="webhook")
        assert result.outcome == Outcome.IN_PROGRESS
        deadline = time.monotonic() + 60
        while not any(
            e["resource"]["prefect.resource.id"] == f"meetstream.bot.{result.bot_id}"
            and e["resource"]["meetstream.terminal"] == "true"
            for e in _events(since)
        ):
            assert time.monotonic() < deadline, receiver.health()
            httpx.get(api_url.removesuffix("/api/v1") + "/_simulator/clock")  # pumps webhooks
            await asyncio.sleep(0.5)

    bots = catalog.read_table("bots", str(receiver.catalog_root))
    [key] = bots.loc[bots.bot_id == result.bot_id, "request_id"]
    token = make_token(TOKEN_KEY, key)
    async with get_client() as client:
        artifacts = [a.model_dump_json() for a in await client.read_artifacts()]
    places = {
        "the receiver's log": receiver.log.read_text(),
        "this process's log": caplog.text,
        "Prefect events": json.dumps(_events(since)),
        "artifacts": "\n".join(artifacts),
    }
    places.update(
        {
            str(p): p.read_bytes().decode("latin-1")
            for p in receiver.catalog_root.rglob("*")
            if p.is_file()
        }
    )
    assert "POST /webhooks/meetstream?<redacted> HTTP" in places["the receiver's log"]  # logged
    assert any("bot_events" in place for place in places)
    assert [place for place, text in places.items() if token in text] == []
