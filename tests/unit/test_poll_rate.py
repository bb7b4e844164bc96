"""Polling respects the API: with the default settings a long meeting costs at most one
`status` call per meeting-minute on average, and the exit is noticed within the backoff
cap. Manifest waits are bounded the same way. Time is the fake clock of `FakeAPI`."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.settings import Settings
from tests.unit.conftest import FakeAPI

DEFAULTS = Settings(api_key=None)


def _bot_that_leaves_at(api: FakeAPI, left_at: float) -> Callable[[httpx.Request], httpx.Response]:
    """A status endpoint that says 'InMeeting' until `left_at` seconds, then 'Stopped'."""
    start = api.now

    def handle(request: httpx.Request) -> httpx.Response:
        api.requests.append(request)
        if request.url.path.endswith("/status"):
            status = "Stopped" if api.now - start >= left_at else "InMeeting"
            return httpx.Response(200, json={"bot_id": "bot-1", "status": status})
        ready = api.now - start >= left_at
        body = {"message": "Audio streams available", "participants": [], "available": True}
        return httpx.Response(200, json=body) if ready else httpx.Response(202, json={})

    return handle


async def _wait_for_exit(
    api: FakeAPI, make_client: Callable[..., MeetStreamClient], minutes: float
) -> float:
    http = httpx.AsyncClient(transport=httpx.MockTransport(_bot_that_leaves_at(api, minutes * 60)))
    async with http:
        client = make_client(http=http)
        start = api.now
        await client.wait_until_left(
            "bot-1",
            timeout=4 * 3600,
            initial_interval=DEFAULTS.poll_interval_seconds,
            max_interval=DEFAULTS.poll_max_interval_seconds,
        )
    return api.now - start - minutes * 60


@pytest.mark.parametrize("minutes", [30, 60, 120, 240])
async def test_a_long_meeting_costs_at_most_one_status_call_per_minute(
    api: FakeAPI, make_client: Callable[..., MeetStreamClient], minutes: int
) -> None:
    await _wait_for_exit(api, make_client, minutes)
    assert len(api.requests) <= minutes


@pytest.mark.parametrize("minutes", [0.5, 3, 30, 60, 121.7])
async def test_the_exit_is_noticed_within_the_backoff_cap(
    api: FakeAPI, make_client: Callable[..., MeetStreamClient], minutes: float
) -> None:
    late = await _wait_for_exit(api, make_client, minutes)
    assert 0 <= late <= DEFAULTS.poll_max_interval_seconds


async def test_a_manifest_that_takes_an_hour_costs_at_most_one_poll_per_minute(
    api: FakeAPI, make_client: Callable[..., MeetStreamClient]
) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(_bot_that_leaves_at(api, 3600)))
    async with http:
        client = make_client(http=http)
        start = api.now
        await client.wait_for_audio_streams("bot-1", timeout=2 * 3600)
    assert len(api.requests) <= 60
    assert api.now - start - 3600 <= DEFAULTS.poll_max_interval_seconds
