"""Everything MeetStream delivers for one bot, fetched once it left: the two per-participant
manifests, the mixed media, the attendee list and the speaker timeline.

Traps guarded here:

- presigned URLs expire after 10 minutes, so `Manifests` never leaves the capture with its
  URLs: `without_urls()` is what callers keep, and the archive step re-fetches a manifest
  whenever a URL has died (`refetch`);
- Denied / NotAllowed bots recorded nothing: there is nothing to wait for;
- the attendee list, the mixed media and the timeline are extras: when one is missing,
  unfinished or malformed the capture goes on without it, and only the URL-free
  `MeetingParticipant` fields are kept.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

from pydantic import BaseModel, Field

from meetstream_catalog.meetstream.bot import BotState
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.meetstream.errors import (
    NotFoundError,
    NotReadyError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from meetstream_catalog.meetstream.models import (
    AudioManifest,
    CompositeVideo,
    MeetingParticipant,
    MixedAudio,
    VideoManifest,
)
from meetstream_catalog.meetstream.timeline import SpeakerTimeline, SpeakerTimelineState
from meetstream_catalog.meetstream.transcripts import Transcript, TranscriptState

_T = TypeVar("_T")


class Manifests(BaseModel):
    """Everything MeetStream delivered for one bot. Holds presigned URLs until stripped.

    `attendees` never holds a URL: `MeetingParticipant` drops `profilePicture` and every
    other field it does not declare.
    """

    audio: AudioManifest | None = None
    video: VideoManifest | None = None
    mixed: MixedAudio | None = None
    composite: CompositeVideo | None = None
    attendees: list[MeetingParticipant] = Field(default_factory=list)
    timeline: SpeakerTimeline | None = None  # holds no URL (see .timeline)
    timeline_status: SpeakerTimelineState | None = None
    transcript: Transcript | None = None  # text and times only: no URL
    transcript_id: str | None = None
    transcript_status: TranscriptState | None = None

    def without_urls(self) -> Manifests:
        """A copy safe to return from a task, log or persist: every URL blanked."""
        data = self.model_dump(by_alias=True)
        for side in ("audio", "video"):
            for group in ("participants", "screenshares"):
                for person in (data.get(side) or {}).get(group, []):
                    for stream in person["streams"]:
                        for segment in stream["segments"]:
                            segment["url"] = None
        if data.get("mixed"):
            data["mixed"]["audio_url"] = ""
        if data.get("composite"):
            data["composite"]["video_url"] = ""
        return Manifests.model_validate(data)


async def fetch_manifests(
    client: MeetStreamClient,
    bot_id: str,
    *,
    state: BotState,
    deadline_seconds: float,
    poll_interval: float,
    poll_max_interval: float,
    transcript_id: str | None = None,
) -> Manifests:
    """Wait (bounded) for both per-participant manifests, then fetch the mixed media, the
    attendee list, the timeline and the transcript `transcript_id` (each best effort)."""
    if state.produced_no_media:
        return Manifests()
    started = time.monotonic()
    audio = await client.wait_for_audio_streams(
        bot_id,
        timeout=deadline_seconds,
        initial_interval=poll_interval,
        max_interval=poll_max_interval,
    )
    video = await client.wait_for_recording_streams(
        bot_id,
        timeout=deadline_seconds,
        initial_interval=poll_interval,
        max_interval=poll_max_interval,
    )
    mixed = await _optional(client.get_audio(bot_id))
    composite = await _optional(client.get_video(bot_id))
    attendees = await _attendees(client, bot_id)
    left = max(1.0, deadline_seconds - (time.monotonic() - started))
    every = (poll_interval, poll_max_interval)
    timeline, status = await _timeline(client, bot_id, left, every)
    left = max(1.0, deadline_seconds - (time.monotonic() - started))
    transcript, transcript_status = await fetch_transcript(
        client, bot_id, transcript_id, left, every
    )
    return Manifests(
        transcript=transcript,
        transcript_id=transcript_id,
        transcript_status=transcript_status,
        audio=audio,
        video=video,
        mixed=mixed,
        composite=composite,
        attendees=attendees,
        timeline=timeline,
        timeline_status=status,
    )


async def fetch_transcript(
    client: MeetStreamClient,
    bot_id: str,
    transcript_id: str | None,
    seconds: float,
    every: tuple[float, float],
) -> tuple[Transcript | None, TranscriptState]:
    """The transcript, polled (202) within `seconds`. Missing, failed or unfinished is a
    fact for the bots row (`transcript`), never a failed capture. A 404, or 202 up to the
    deadline, costs one more call: `/transcriptions` tells a failed run from an unknown
    or unfinished one."""
    if transcript_id is None:
        return None, "not_requested"
    try:
        transcript = await client.wait_for_transcript(
            transcript_id, timeout=seconds, initial_interval=every[0], max_interval=every[1]
        )
    except (NotFoundError, WaitTimeoutError) as exc:
        unknown = isinstance(exc, NotFoundError)
        return None, await _run_state(client, bot_id, transcript_id, unknown)
    except UnexpectedResponseError:
        return None, "malformed"
    return transcript, "available" if transcript.segments else "empty"


async def _run_state(
    client: MeetStreamClient, bot_id: str, transcript_id: str, unknown: bool
) -> TranscriptState:
    fallback: TranscriptState = "missing" if unknown else "not_ready"
    try:
        runs = await client.list_transcriptions(bot_id)
    except (NotFoundError, NotReadyError, UnexpectedResponseError):
        return fallback
    run = next((r for r in runs if r.transcript_id == transcript_id), None)
    return "failed" if run is not None and run.failed else fallback


async def refetch(
    client: MeetStreamClient, bot_id: str, kind: str, current: Manifests
) -> Manifests:
    """`current` with the manifest that lists a file of `kind` fetched again (fresh URLs)."""
    if kind == "audio":
        return current.model_copy(update={"audio": await client.get_audio_streams(bot_id)})
    if kind in ("webcam", "screenshare"):
        return current.model_copy(update={"video": await client.get_recording_streams(bot_id)})
    if kind == "mixed_audio":
        return current.model_copy(update={"mixed": await client.get_audio(bot_id)})
    return current.model_copy(update={"composite": await client.get_video(bot_id)})


async def _optional(call: Awaitable[_T]) -> _T | None:
    """Mixed audio / composite video are extras: absent or unfinished means None."""
    try:
        return await call
    except (NotFoundError, NotReadyError):
        return None


async def _attendees(client: MeetStreamClient, bot_id: str) -> list[MeetingParticipant]:
    """Who attended, per device. An extra: absent, unfinished or malformed means nobody
    beyond the manifests (the join then has no `no_media` rows), never a failed capture."""
    try:
        return await client.get_participants(bot_id)
    except (NotFoundError, NotReadyError, UnexpectedResponseError):
        return []


async def _timeline(
    client: MeetStreamClient, bot_id: str, seconds: float, every: tuple[float, float]
) -> tuple[SpeakerTimeline | None, SpeakerTimelineState]:
    """The speaker timeline, polled within what is left of the processing deadline. A
    missing one is a fact for the bots row (`speaker_timeline`), never a failed capture."""
    try:
        timeline = await client.wait_for_speaker_timeline(
            bot_id, timeout=seconds, initial_interval=every[0], max_interval=every[1]
        )
    except NotFoundError:
        return None, "missing"
    except WaitTimeoutError:
        return None, "not_ready"
    except UnexpectedResponseError:
        return None, "malformed"
    return timeline, "available" if timeline.usable_chunks() else "empty"
