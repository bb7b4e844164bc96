"""Delete-after-archive against the simulator over a real socket, through the Prefect flows.

With MEETSTREAM_DELETE_AFTER_ARCHIVE on, a captured meeting is deleted at MeetStream (its
media URLs answer 404 afterwards, a `data_deletion` webhook goes to its callback) and its
`bots` row records when and how many objects; a meeting with a failed file is never
deleted until a later collect has completed and verified it; a failing delete leaves the
meeting captured and the row saying "not deleted".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from flows.capture import capture_meeting
from flows.collect import collect_bot
from meetstream_catalog import catalog
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.simulator.scenario import load_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig
from tests.integration.simulator_calls import Receiver

SHORT = "https://zoom.us/j/5550006666"  # 2 meeting-minutes: 2 s at 60x
AUTH = {"Authorization": f"Token {DEMO_API_KEY}"}

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture(scope="module")
def simulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    people = [
        {"name": "Ana Souza", "speech": [[0, 40]], "camera": [[0, 100]]},
        {"name": "Ben Carter", "speech": [[40, 90]], "camera": [[10, 60]]},
    ]
    short = {"duration": 120, "join_delay": 2, "participants": people,
             "processing": {"audio_delay": 5, "video_delay": 10}}  # fmt: skip
    path = tmp_path_factory.mktemp("retention") / "scenario.yaml"
    path.write_text(yaml.safe_dump({"meetings": {SHORT: short}}))
    with serve_in_thread(SimulatorConfig(scenario=load_scenario(path), speed=60)) as url:
        yield url


@pytest.fixture
def api(simulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MEETSTREAM_API_URL", simulator_url)
    monkeypatch.setenv("MEETSTREAM_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("MEETSTREAM_MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setenv("MEETSTREAM_CATALOG_ROOT", str(tmp_path / "catalog"))
    monkeypatch.setenv("MEETSTREAM_POLL_INTERVAL_SECONDS", "0.2")
    monkeypatch.setenv("MEETSTREAM_POLL_MAX_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("MEETSTREAM_DELETE_AFTER_ARCHIVE", "true")
    yield simulator_url
    httpx.delete(_admin(simulator_url, "faults"))


def _admin(api_url: str, path: str) -> str:
    return api_url.removesuffix("/api/v1") + f"/_simulator/{path}"


def _fault(api_url: str, **rule: Any) -> None:
    httpx.post(_admin(api_url, "faults"), json=rule).raise_for_status()


def _deletes(api_url: str) -> int:
    counts: dict[str, int] = httpx.get(_admin(api_url, "requests")).json()["by_endpoint"]
    return counts.get("delete", 0)


def _bots(tmp_path: Path) -> pd.DataFrame:
    return catalog.read_table("bots", str(tmp_path / "catalog"))


def _a_media_url(api_url: str, bot_id: str, timeout: float = 30.0) -> str:
    """A presigned audio URL of the bot, once its audio is processed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(f"{api_url}/bots/{bot_id}/get_audio_streams", headers=AUTH)
        if answer.status_code == 200 and answer.json().get("participants"):
            url: str = answer.json()["participants"][0]["streams"][0]["segments"][0]["url"]
            return url
        assert time.monotonic() < deadline, f"audio never ready: {answer.status_code}"
        time.sleep(0.2)


async def test_a_verified_meeting_is_deleted_at_meetstream_and_the_row_says_so(
    api: str, tmp_path: Path, receiver: Receiver
) -> None:
    body = {"meeting_link": SHORT, "bot_name": "Notetaker", "callback_url": receiver.url,
            "audio_separate_streams": True, "video_separate_streams": True}  # fmt: skip
    created = httpx.post(f"{api}/bots/create_bot", json=body, headers=AUTH)
    bot_id = created.json()["bot_id"]
    url = _a_media_url(api, bot_id)
    assert httpx.get(url).status_code == 200

    result = await collect_bot(bot_id)  # as the webhook receiver would start it

    assert result.outcome is Outcome.CAPTURED
    bots = _bots(tmp_path)
    row = bots.set_index("bot_id").loc[bot_id]
    assert row["outcome"] == "captured"
    assert pd.notna(row["deleted_at"])
    assert row["deleted_objects"] > 0
    assert httpx.get(url).status_code == 404  # MeetStream no longer holds it
    assert httpx.get(f"{api}/bots/{bot_id}/status", headers=AUTH).status_code == 404
    deadline = time.monotonic() + 10
    while "data_deletion" not in receiver.events():
        assert time.monotonic() < deadline, f"no data_deletion webhook: {receiver.events()}"
        httpx.get(_admin(api, "clock"))  # any request pumps due webhooks
        await asyncio.sleep(0.1)
    media = catalog.read_table("media", str(tmp_path / "catalog"))
    assert len(media) == row["media_files"]  # our copy is whole


async def test_a_meeting_with_a_failed_file_is_never_deleted_until_completed(
    api: str, tmp_path: Path
) -> None:
    _fault(api, endpoint="media", status=404, count=1)  # one file is gone at first
    before = _deletes(api)

    first = await capture_meeting(MeetingRequest(meeting_link=SHORT, request_id="ret-partial"))

    assert first.outcome is Outcome.PARTIAL
    assert first.bot_id is not None
    assert _deletes(api) == before  # not even asked
    assert pd.isna(_bots(tmp_path)["deleted_at"].iloc[0])
    status = httpx.get(f"{api}/bots/{first.bot_id}/status", headers=AUTH)
    assert status.status_code == 200  # MeetStream still holds the bot and its media

    second = await collect_bot(first.bot_id)  # completes the archive, then verifies it

    assert second.outcome is Outcome.CAPTURED
    assert _deletes(api) == before + 1
    assert pd.notna(_bots(tmp_path)["deleted_at"].iloc[0])


async def test_a_failing_delete_leaves_the_meeting_captured_and_not_deleted(
    api: str, tmp_path: Path
) -> None:
    _fault(api, endpoint="delete", status=409, count=1)

    result = await capture_meeting(MeetingRequest(meeting_link=SHORT, request_id="ret-409"))

    assert result.outcome is Outcome.CAPTURED
    bots = _bots(tmp_path)
    assert bots["outcome"].tolist() == ["captured"]
    assert pd.isna(bots["deleted_at"].iloc[0])
    assert httpx.get(f"{api}/bots/{result.bot_id}/status", headers=AUTH).status_code == 200
