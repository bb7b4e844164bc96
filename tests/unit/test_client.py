"""The MeetStream client against a queue of fake answers: errors, retries, secrets, waits."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest

from meetstream_catalog import retry
from meetstream_catalog.meetstream.bot import BotState
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.meetstream.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    MeetStreamError,
    NotFoundError,
    NotReadyError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from meetstream_catalog.retry import Backoff
from meetstream_catalog.settings import MissingApiKeyError, Settings

PRESIGNED = "https://bucket.s3.amazonaws.com/b1/Jane_0.webm?X-Amz-Signature=deadbeef"
CREATED = {
    "bot_id": "b1",
    "transcript_id": "t1",
    "meeting_url": "https://meet.x/a",
    "status": "Active",
}
NOT_STARTED = {"message": "No video processing has been initiated for this bot."}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"message": "meeting_link is required."}, BadRequestError),
        (401, {"message": "Authentication credentials were not provided."}, AuthenticationError),
        (403, {"detail": "Invalid token."}, PermissionDeniedError),
        (404, {"message": "Bot not found."}, NotFoundError),
        (404, NOT_STARTED, NotReadyError),
        (404, {"error": "Audio processing not started yet"}, NotReadyError),
        (409, {"message": "A bot has already been created for this meeting link."}, ConflictError),
        (429, {"message": "Request was throttled."}, RateLimitError),
        (500, {"message": "Internal server error."}, ServerError),
        (502, "<html>Bad gateway</html>", ServerError),
        (503, {"message": "Unavailable"}, ServerError),
        (504, None, ServerError),
        (202, {"message": "in_progress"}, NotReadyError),
        (302, "", UnexpectedResponseError),
        (200, "<!doctype html><html>Sign in</html>", UnexpectedResponseError),
        (200, '{"bot_id": "b1", "sta', UnexpectedResponseError),
        (200, "", UnexpectedResponseError),
        (200, {"status": "InMeeting"}, UnexpectedResponseError),  # no bot_id: wrong shape
    ],
)
async def test_status_to_error_table(
    api, make_client, status: int, body: object, error: type[MeetStreamError]
) -> None:
    if isinstance(body, str):
        api.add(status, text=body)
    else:
        api.add(status, body)
    with retry.set_testing(True, attempts=1), pytest.raises(error) as caught:
        await make_client().get_status("b1")
    assert type(caught.value) is error
    assert caught.value.status_code == status or error is UnexpectedResponseError
    if error is UnexpectedResponseError:
        assert "MEETSTREAM_API_URL" in str(caught.value)


async def test_sends_token_auth_and_identifies_itself(api, make_client) -> None:
    api.add(200, {"bot_id": "b1", "status": "InMeeting"})
    status = await make_client().get_status("b1")
    assert status.state is BotState.IN_MEETING
    request = api.requests[0]
    assert str(request.url) == f"{api.BASE_URL}/bots/b1/status"
    assert request.headers["Authorization"] == f"Token {api.API_KEY}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("meetstream-catalog/")


async def test_5xx_is_retried_with_full_jitter_then_raised(api, make_client) -> None:
    api.add(500, {"message": "boom"}, times=4)
    with retry.set_testing(True, attempts=4) as testing, pytest.raises(ServerError):
        await make_client(backoff=Backoff(initial=0.5)).get_status("b1")
    assert len(api.requests) == 4
    assert len(testing.waits) == 3
    for attempt, waited in enumerate(testing.waits):  # full jitter: anywhere in [0, base * 2^n]
        assert 0 <= waited <= 0.5 * 2**attempt
    assert api.sleeps == []  # retries never touch the waits' clock


@pytest.mark.parametrize("status", [502, 503, 504, 408])
async def test_transient_failure_then_success(api, make_client, status: int) -> None:
    api.add(status, {"message": "try later"}).add(200, {"bot_id": "b1", "status": "Joining"})
    status_ = await make_client().get_status("b1")
    assert status_.state is BotState.JOINING
    assert len(api.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_other_4xx_are_never_retried(api, make_client, status: int) -> None:
    api.add(status, {"message": "no"}, times=2)
    with pytest.raises(MeetStreamError):
        await make_client().get_status("b1")
    assert len(api.requests) == 1


async def test_202_is_never_retried(api, make_client) -> None:
    api.add(202, {"audio_status": "in_progress"}, times=2)
    with pytest.raises(NotReadyError):
        await make_client().get_audio_streams("b1")
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("peer closed"),
    ],
)
async def test_connection_failures_are_retried_then_raised(
    api, make_client, error: Exception
) -> None:
    api.fail(error, times=3)
    with retry.set_testing(True, attempts=3), pytest.raises(APIConnectionError) as caught:
        await make_client().get_status("b1")
    assert len(api.requests) == 3
    assert caught.value.__cause__ is error


async def test_timeouts_are_retried_then_raised(api, make_client) -> None:
    api.fail(httpx.ReadTimeout("timed out"), times=2).add(200, {"bot_id": "b1"})
    assert (await make_client().get_status("b1")).bot_id == "b1"
    api.fail(httpx.ConnectTimeout("timed out"), times=2)
    with retry.set_testing(True, attempts=2), pytest.raises(APITimeoutError):
        await make_client().get_status("b1")


async def test_retry_after_seconds_is_honoured(api, make_client, retries) -> None:
    api.add(429, {"message": "slow down"}, headers={"Retry-After": "3"})
    api.add(200, {"bot_id": "b1"})
    await make_client().get_status("b1")
    assert retries.waits == [3.0]


async def test_retry_after_http_date_is_honoured_up_to_the_cap(api, make_client, retries) -> None:
    api.add(503, {"message": "later"}, headers={"Retry-After": "Fri, 31 Dec 2100 23:59:59 GMT"})
    api.add(200, {"bot_id": "b1"})
    await make_client(backoff=Backoff(retry_after_cap=5)).get_status("b1")
    assert retries.waits == [5.0]


async def test_total_retry_time_is_bounded(api, make_client, retries) -> None:
    api.add(429, {"message": "slow down"}, headers={"Retry-After": "4"}, times=10)
    settings = Settings(api_key=None, outage_tolerance_seconds=10)
    with pytest.raises(RateLimitError) as caught:
        await make_client(settings=settings).get_status("b1")
    assert retries.waits == [4.0, 4.0]  # a third wait would end past the 10 s budget
    assert len(api.requests) == 3
    assert caught.value.retry_after == 4.0


async def test_create_bot_sends_top_level_flags_and_idempotency_key(api, make_client) -> None:
    api.add(201, CREATED)
    created = await make_client().create_bot(
        meeting_link="https://meet.google.com/abc-defg-hij",
        bot_name="Recorder",
        idempotency_key="idem-1",
        join_at=datetime(2026, 5, 1, 10, 0, tzinfo=UTC),
        custom_attributes={"job": "42"},
        extra={"recording_config": {"retention": {"type": "timed", "hours": 24}}},
    )
    assert (created.bot_id, created.replayed, created.state) == ("b1", False, BotState.ACTIVE)
    request = api.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/v1/bots/create_bot")
    assert request.headers["Idempotency-Key"] == "idem-1"
    body = json.loads(request.content)
    assert body["audio_separate_streams"] is True
    assert body["video_separate_streams"] is True
    assert body["join_at"] == "2026-05-01T10:00:00+00:00"
    assert body["custom_attributes"] == {"job": "42"}
    assert "video_required" not in body
    assert body["recording_config"]["retention"]["hours"] == 24


@pytest.mark.parametrize("status", [507, 200])
async def test_create_replays_are_successes_and_not_retried(api, make_client, status: int) -> None:
    api.add(status, {**CREATED, "transcript_id": None, "message": "Duplicate request."})
    created = await make_client().create_bot(
        meeting_link="https://meet.x/a", bot_name="R", idempotency_key="idem-1"
    )
    assert created.replayed is True
    assert created.bot_id == "b1"
    assert len(api.requests) == 1


async def test_507_outside_create_is_a_permanent_server_error(api, make_client) -> None:
    api.add(507, {"message": "Insufficient storage"}, times=2)
    with pytest.raises(ServerError):
        await make_client().get_status("b1")
    assert len(api.requests) == 1


async def test_create_conflict_raises(api, make_client) -> None:
    api.add(409, {"message": "A bot has already been created for this meeting link."})
    with pytest.raises(ConflictError, match="already been created"):
        await make_client().create_bot(
            meeting_link="https://meet.x/b", bot_name="R", deduplication_key="d1"
        )


async def test_create_without_any_key_is_not_retried(api, make_client) -> None:
    api.add(503, {"message": "later"}, times=2)
    with pytest.raises(ServerError):
        await make_client().create_bot(meeting_link="https://meet.x/a", bot_name="R")
    assert len(api.requests) == 1  # a lost answer may hide a created bot: never guess


async def test_create_with_idempotency_key_is_retried(api, make_client) -> None:
    api.fail(httpx.ReadError("reset")).add(507, CREATED)
    created = await make_client().create_bot(
        meeting_link="https://meet.x/a", bot_name="R", idempotency_key="idem-1"
    )
    assert created.replayed is True
    assert [r.headers["Idempotency-Key"] for r in api.requests] == ["idem-1", "idem-1"]


async def test_create_rejects_ambiguous_input(make_client) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="timezone"):
        await client.create_bot(meeting_link="m", bot_name="R", join_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="audio_separate_streams"):
        await client.create_bot(
            meeting_link="m", bot_name="R", extra={"audio_separate_streams": False}
        )


async def test_the_key_never_appears_in_errors_reprs_or_logs(
    api, make_client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tasks")
    echo = {"message": f"Invalid token {api.API_KEY} for {PRESIGNED}"}
    api.add(500, echo).add(403, echo)
    client = make_client()
    with pytest.raises(PermissionDeniedError) as caught:
        await client.get_status("b1")
    texts = [str(caught.value), repr(caught.value), caught.value.body_excerpt or "", repr(client)]
    texts += [caplog.text]
    assert caplog.records, "the retry should have been logged"
    for text in texts:
        assert api.API_KEY not in text
        assert "deadbeef" not in text
        assert "X-Amz-Signature" not in text


async def test_a_wrong_shape_names_fields_but_never_values(api, make_client) -> None:
    api.add(200, {"audio_url": None, "note": PRESIGNED})
    with pytest.raises(UnexpectedResponseError) as caught:
        await make_client().get_audio("b1")
    assert "audio_url" in str(caught.value)
    assert "deadbeef" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_missing_key_fails_at_first_use_and_says_what_to_set(api, make_client) -> None:
    client = make_client(api_key=None, settings=Settings(api_key=None))
    assert "missing" in repr(client)
    with pytest.raises(MissingApiKeyError, match="MEETSTREAM_API_KEY"):
        await client.get_status("b1")
    assert api.requests == []


async def test_key_can_come_from_settings(api, make_client) -> None:
    api.add(200, {"bot_id": "b1"})
    client = make_client(api_key=None, settings=Settings(api_key="from-settings-key"))
    await client.get_status("b1")
    assert api.requests[0].headers["Authorization"] == "Token from-settings-key"
    assert "from-settings-key" not in repr(client)
    assert "from-settings-key" not in repr(vars(client))


@pytest.mark.parametrize("bot_id", ["", "a/b", "..", "a..b", "a b", "b1\n", "../etc", "b1?x=1"])
async def test_bot_ids_are_validated_before_use(api, make_client, bot_id: str) -> None:
    with pytest.raises(ValueError, match="invalid bot id"):
        await make_client().get_status(bot_id)
    assert api.requests == []


async def test_media_and_meeting_endpoints(api, make_client) -> None:
    api.add(200, {"audio_url": PRESIGNED})
    api.add(200, {"video_url": PRESIGNED, "video_info": {"duration": 10, "fps": 25}})
    api.add(200, [{"deviceId": "d1", "displayName": "Alice", "streamIds": ["s1"]}])
    api.add(200, {"bot_details": {"BotID": "b1", "Platform": "google_meet", "Status": "Done"}})
    api.add(200, {"message": "Bot removed."})
    client = make_client()
    assert (await client.get_audio("b1")).audio_url == PRESIGNED
    assert (await client.get_video("b1")).video_info is not None
    assert [p.display_name for p in await client.get_participants("b1")] == ["Alice"]
    assert (await client.get_detail("b1")).platform == "google_meet"
    assert await client.remove_bot("b1") == "Bot removed."
    assert [r.url.path.rsplit("/", 1)[1] for r in api.requests] == [
        "get_audio",
        "get_video",
        "get_participants",
        "detail",
        "remove_bot",
    ]
    assert api.requests[-1].method == "GET"


async def test_recording_streams_accept_the_flat_array(api, make_client) -> None:
    api.add(200, [{"participant": {"name": "Jane"}, "download_url": PRESIGNED, "type": "webcam"}])
    manifest = await make_client().get_recording_streams("b1")
    assert manifest.participants[0].streams[0].segments[0].url == PRESIGNED


async def test_no_streams_are_values_not_errors(api, make_client) -> None:
    api.add(200, {"bot_id": "b1", "audio_streams_available": False, "participants": []})
    api.add(200, {"bot_id": "b1", "recording_streams_available": False, "participants": []})
    client = make_client()
    assert (await client.get_audio_streams("b1")).available is False
    assert (await client.get_recording_streams("b1")).available is False


async def test_wait_until_left_polls_until_a_terminal_state(api, make_client) -> None:
    for status in ("InMeeting", "recording", "STOPPED"):
        api.add(200, {"bot_id": "b1", "status": status})
    status = await make_client().wait_until_left("b1", timeout=600, initial_interval=5)
    assert status.state is BotState.STOPPED
    assert api.sleeps == [5.0, 7.5]


async def test_wait_until_left_gives_up_saying_why(api, make_client) -> None:
    api.add(200, {"bot_id": "b1", "status": "InMeeting"}, times=50)
    with pytest.raises(WaitTimeoutError) as caught:
        await make_client().wait_until_left("b1", timeout=60)
    message = str(caught.value)
    assert "bot b1 to leave the meeting" in message
    assert "InMeeting" in message
    assert "after 60s" in message


async def test_wait_for_streams_treats_202_and_404_not_started_as_not_yet(api, make_client) -> None:
    api.add(404, NOT_STARTED).add(202, {"video_status": "in_progress", "stage": "encoding"})
    api.add(200, {"bot_id": "b1", "recording_streams_available": True, "participants": []})
    manifest = await make_client().wait_for_recording_streams("b1", timeout=600)
    assert manifest.available
    assert len(api.sleeps) == 2


async def test_wait_for_streams_lets_permanent_errors_through(api, make_client) -> None:
    api.add(202, {"audio_status": "in_progress"}).add(403, {"message": "Invalid token."})
    with pytest.raises(PermissionDeniedError):
        await make_client().wait_for_audio_streams("b1", timeout=600)
    assert len(api.requests) == 2


async def test_closes_only_the_http_client_it_created() -> None:
    injected = httpx.AsyncClient()
    async with MeetStreamClient(api_key="k-123456789", http=injected, settings=Settings()):
        pass
    assert not injected.is_closed
    await injected.aclose()
    owned = MeetStreamClient(api_key="k-123456789", settings=Settings())
    async with owned:
        pass
    assert owned._http.is_closed


async def test_an_outage_is_retried_within_the_tolerance_then_names_the_call(
    api, make_client, retries
) -> None:
    api.add(500, {"message": "down"}, times=10_000)
    settings = Settings(api_key=None, outage_tolerance_seconds=600)
    with pytest.raises(ServerError) as caught:
        await make_client(settings=settings).get_recording_streams("b1")

    message = str(caught.value)
    assert "GET /bots/b1/get_recording_streams kept failing for" in message
    assert "MEETSTREAM_OUTAGE_TOLERANCE_SECONDS" in message
    assert 540 <= sum(retries.waits) <= 600  # it used the budget, and never more
    assert max(retries.waits) <= 60  # backoff capped, so the end of an outage is seen soon


async def test_an_outage_shorter_than_the_tolerance_is_ridden_out(api, make_client) -> None:
    api.add(503, {"message": "down"}, times=40)  # ~20 minutes of 503s at the backoff cap
    api.add(200, {"bot_id": "b1", "status": "Stopped"})

    status = await make_client().get_status("b1")  # default tolerance: 30 minutes

    assert status.state is BotState.STOPPED
    assert len(api.requests) == 41


async def test_an_outage_during_a_wait_is_ridden_out_by_the_clients_retries(
    api, make_client, retries
) -> None:
    api.add(200, {"bot_id": "b1", "status": "InMeeting"})
    api.add(500, {"message": "down"}, times=30)
    api.add(200, {"bot_id": "b1", "status": "Stopped"})

    status = await make_client().wait_until_left("b1", timeout=3600, initial_interval=5)

    assert status.state is BotState.STOPPED
    assert len(api.requests) == 32
    assert api.sleeps == [5.0]  # one poll: the outage was the retry's, not the wait's
    assert len(retries.waits) == 30


async def test_an_outage_longer_than_the_tolerance_ends_a_wait_at_once(api, make_client) -> None:
    api.add(200, {"bot_id": "b1", "status": "InMeeting"})
    api.add(503, {"message": "down"}, times=10_000)
    settings = Settings(api_key=None, outage_tolerance_seconds=60)

    with pytest.raises(ServerError, match="kept failing for"):
        await make_client(settings=settings).wait_until_left("b1", timeout=3600)

    assert api.sleeps == [5.0]  # not polled again: that would be a second retry on top
