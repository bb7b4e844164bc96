"""fetch_manifests: the attendee list is a best-effort extra that never carries a URL."""

from __future__ import annotations

from typing import Any

import pytest

from meetstream_catalog.meetstream.bot import BotState
from meetstream_catalog.meetstream.manifests import fetch_manifests

PICTURE = "https://cdn.example.test/p.png?X-Amz-Signature=deadbeef"
SEGMENT_URL = "https://bucket.s3.amazonaws.com/b1/a.wav?X-Amz-Signature=deadbeef"
AUDIO = {
    "participants": [
        {
            "participant_name": "Ann",
            "streams": [{"stream_id": "a0", "segments": [{"url": SEGMENT_URL}]}],
        }
    ]
}
SAM = {
    "deviceId": "devices/103",
    "displayName": "Sam Taylor",
    "fullName": "Sam Taylor",
    "profilePicture": PICTURE,
    "status": 2,
    "humanized_status": "left",
    "streamIds": ["s3"],
    "lastUpdated": "2026-05-26T10:11:14.990Z",
}


async def _fetch(api: Any, client: Any) -> list[str]:
    api.add(404, {"message": "Bot not found."})  # no speaker timeline: not a failure either
    manifests = await fetch_manifests(
        client,
        "b1",
        state=BotState.STOPPED,
        deadline_seconds=60,
        poll_interval=1,
        poll_max_interval=1,
    )
    assert api.requests[-2].url.path.endswith("/get_participants")
    assert manifests.timeline is None
    assert manifests.timeline_status == "missing"
    kept = manifests.without_urls()
    assert kept.attendees == manifests.attendees
    text = kept.model_dump_json()
    assert "https://" not in text
    assert "Signature" not in text
    return [a.display_name or "" for a in kept.attendees]


def _queue_media(api: Any) -> None:
    api.add(200, AUDIO).add(200, {"participants": [], "screenshares": []})
    api.add(404, {"message": "Bot not found."}, times=2)  # no mixed audio, no composite


async def test_attendees_are_fetched_without_their_profile_picture(
    api: Any, make_client: Any
) -> None:
    _queue_media(api)
    api.add(200, [SAM])
    assert await _fetch(api, make_client()) == ["Sam Taylor"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"message": "Bot not found."}),
        (202, {"message": "in_progress"}),
        (200, "<!doctype html><html>Sign in</html>"),
        (200, {"participants": "nobody"}),
    ],
    ids=["not_found", "not_ready", "html", "wrong_shape"],
)
async def test_a_missing_attendee_list_means_no_attendees_not_a_failure(
    api: Any, make_client: Any, status: int, body: object
) -> None:
    _queue_media(api)
    if isinstance(body, str):
        api.add(status, text=body)
    else:
        api.add(status, body)
    assert await _fetch(api, make_client()) == []


def test_the_bot_itself_is_not_catalogued_as_an_attendee(tmp_path: Any) -> None:
    import datetime as dt

    from meetstream_catalog.catalog import read_table
    from meetstream_catalog.catalogue import catalogue
    from meetstream_catalog.job import Archived, BotLeft, CaptureJob
    from meetstream_catalog.meetstream.manifests import Manifests
    from meetstream_catalog.meetstream.models import AudioManifest, MeetingParticipant
    from meetstream_catalog.request import MeetingRequest
    from meetstream_catalog.roots import Root
    from meetstream_catalog.settings import Settings

    bot = MeetingParticipant.model_validate({"displayName": "Recorder  Bot"})
    sam = MeetingParticipant.model_validate(SAM)
    job = CaptureJob.for_request(
        MeetingRequest(meeting_link="https://zoom.us/j/1", bot_name="recorder bot"),
        key="k",
        media_root=Root(str(tmp_path / "media")),
        catalog_root=Root(str(tmp_path)),
        settings=Settings(),
    )
    left = BotLeft(BotState.STOPPED, "zoom", None, None, dt.datetime.now(dt.UTC))
    manifests = Manifests(
        audio=AudioManifest.model_validate({"participants": []}), attendees=[bot, sam]
    )
    catalogue(job, "b1", left, Archived(manifests, []))
    people = read_table("participants", str(tmp_path))
    assert people["participant_name"].tolist() == ["Sam Taylor"]
