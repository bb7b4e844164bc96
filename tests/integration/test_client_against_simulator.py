"""Our MeetStream client against the simulator: in-process (ASGITransport) and over a socket.

Both run on the simulator's manual clock (speed 0), so a whole meeting passes with one
`POST /_simulator/advance`, and retries run in test mode, so nothing waits on wall time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from meetstream_catalog import retry
from meetstream_catalog.meetstream.bot import BotState
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.meetstream.errors import NotReadyError, PermissionDeniedError
from meetstream_catalog.simulator.app import create_app
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

LINK = "https://zoom.us/j/4242424242"


@pytest.fixture(scope="module")
def socket_url() -> Iterator[str]:
    with serve_in_thread(SimulatorConfig(speed=0)) as url:
        yield url


@pytest.fixture(params=["in_process", "socket"])
async def http(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client whose base URL is the simulator's origin, fresh state per test."""
    if request.param == "in_process":
        transport = httpx.ASGITransport(app=create_app(SimulatorConfig(speed=0)))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            yield client
    else:
        origin = request.getfixturevalue("socket_url").removesuffix("/api/v1")
        async with httpx.AsyncClient(base_url=origin) as client:
            (await client.post("/_simulator/reset")).raise_for_status()
            yield client


def meetstream(http: httpx.AsyncClient, key: str = DEMO_API_KEY) -> MeetStreamClient:
    origin = str(http.base_url).rstrip("/")
    return MeetStreamClient(api_key=key, base_url=f"{origin}/api/v1", http=http)


async def advance(http: httpx.AsyncClient, seconds: float) -> None:
    (await http.post("/_simulator/advance", json={"seconds": seconds})).raise_for_status()


async def fault(http: httpx.AsyncClient, **rule: object) -> None:
    (await http.post("/_simulator/faults", json=rule)).raise_for_status()


async def test_a_whole_meeting_from_create_to_manifests(http: httpx.AsyncClient) -> None:
    client = meetstream(http)
    created = await client.create_bot(meeting_link=LINK, bot_name="Rec", idempotency_key="k-1")
    replay = await client.create_bot(meeting_link=LINK, bot_name="Rec", idempotency_key="k-1")
    assert (replay.bot_id, replay.replayed, created.replayed) == (created.bot_id, True, False)

    with pytest.raises(NotReadyError):
        await client.get_audio_streams(created.bot_id)
    await advance(http, 6 * 3600)

    status = await client.wait_until_left(created.bot_id, timeout=5, initial_interval=0.01)
    assert status.state.has_left
    audio = await client.wait_for_audio_streams(created.bot_id, timeout=5, initial_interval=0.01)
    video = await client.get_recording_streams(created.bot_id)
    detail = await client.get_detail(created.bot_id)
    assert audio.available
    assert audio.participants
    assert video.available
    assert video.participants
    assert detail.exit_state() is BotState.STOPPED
    assert detail.platform == "zoom"


async def test_presigned_urls_serve_ranges_and_expire_with_403(http: httpx.AsyncClient) -> None:
    client = meetstream(http)
    bot = await client.create_bot(meeting_link=LINK, bot_name="Rec", idempotency_key="k-2")
    await advance(http, 6 * 3600)
    segment = (await client.get_audio_streams(bot.bot_id)).participants[0].streams[0].segments[0]
    assert segment.url is not None

    whole = await http.get(segment.url)
    assert whole.status_code == 200
    assert int(whole.headers["content-length"]) == len(whole.content)
    assert whole.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML magic: a WebM file
    part = await http.get(segment.url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]

    await fault(http, endpoint="get_audio_streams", expire_after=0)
    stale = (await client.get_audio_streams(bot.bot_id)).participants[0].streams[0].segments[0]
    assert stale.url is not None
    assert (await http.get(stale.url)).status_code == 403


async def test_transient_faults_are_retried_and_permanent_ones_are_not(
    http: httpx.AsyncClient,
) -> None:
    client = meetstream(http)
    bot = await client.create_bot(meeting_link=LINK, bot_name="Rec", idempotency_key="k-3")
    await fault(http, endpoint="status", status=503, count=2)
    await fault(http, endpoint="status", status=429, retry_after=1, count=1)
    with retry.set_testing(True) as testing:  # waits counted, not slept
        assert (await client.get_status(bot.bot_id)).bot_id == bot.bot_id
    assert (await http.get("/_simulator/faults")).json()["faults"] == []
    assert len(testing.waits) == 3
    assert 1.0 in testing.waits  # the 429's Retry-After, honoured

    with pytest.raises(PermissionDeniedError):
        await meetstream(http, key="wrong-key").get_status(bot.bot_id)
    bare = await http.get(f"/api/v1/bots/{bot.bot_id}/status")
    assert bare.status_code == 401
