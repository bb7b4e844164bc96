"""One meeting's capture, as plain async steps: create, wait, collect, archive, catalogue.

`tasks.steps` wraps each step in a Prefect task; nothing here imports Prefect, so every
step runs and tests without a Prefect API. The traps guarded here:

- the idempotency key comes from `tasks.request`, derived once from the request, so a
  retried task or a re-run flow replays the same bot (507) instead of a second one;
- presigned URLs expire after 10 minutes, so manifests never leave this module with their
  URLs: `Manifests.without_urls()` is what callers keep, and the archive step re-fetches
  the manifest whenever a URL has died;
- Denied / NotAllowed / Error bots and "no streams available" are outcomes to catalogue,
  not exceptions;
- the attendee list (`get_participants`) is an extra: when it is missing or malformed the
  capture goes on without it, and only the URL-free `MeetingParticipant` fields are kept;
- a bot exists from the moment `create_bot` answers: `catalogue_in_progress` records it
  before any wait, so a crashed run's bot is found and collected, never paid for twice;
- one file that fails for good does not discard the others: the bot is `partial`, with
  the missing files named, and a later collect completes it without copying twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, Field

from tasks import archive, catalog
from tasks.archive import plan
from tasks.archive.storage import open_root, sweep_partial_files
from tasks.catalog import join, speech
from tasks.job import BotLeft, CaptureJob, CaptureResult, Outcome
from tasks.meetstream.client import MeetStreamClient
from tasks.meetstream.errors import (
    NotFoundError,
    NotReadyError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from tasks.meetstream.models import (
    ArchivedMedia,
    AudioManifest,
    BotState,
    CompositeVideo,
    MediaFile,
    MeetingParticipant,
    MixedAudio,
    VideoManifest,
)
from tasks.meetstream.timeline import SpeakerTimeline
from tasks.request import MeetingRequest, platform_from_link
from tasks.settings import Settings

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


async def create_bot(
    client: MeetStreamClient,
    request: MeetingRequest,
    key: str,
    *,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """Create (or replay) the bot; returns its id, create-time status and whether replayed.

    With `callback_url` MeetStream posts the bot's webhooks there (webhook mode)."""
    created = await client.create_bot(
        callback_url=callback_url,
        meeting_link=request.link(),
        bot_name=request.bot_name,
        idempotency_key=key,
        audio_separate_streams=True,
        video_separate_streams=True,
        video_required=request.composite_video,
        join_at=request.join_at,
        custom_attributes=request.custom_attributes or None,
    )
    return {"bot_id": created.bot_id, "status": created.status, "replayed": created.replayed}


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
    timeline: SpeakerTimeline | None = None  # holds no URL (see tasks.meetstream.timeline)
    timeline_status: catalog.SpeakerTimelineState | None = None

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
) -> Manifests:
    """Wait (bounded) for both per-participant manifests, then fetch the mixed media and
    the attendee list (both best effort).

    NotAllowed / Denied bots recorded nothing, so there is nothing to wait for.
    """
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
    timeline, status = await _timeline(client, bot_id, left, (poll_interval, poll_max_interval))
    return Manifests(
        audio=audio,
        video=video,
        mixed=mixed,
        composite=composite,
        attendees=attendees,
        timeline=timeline,
        timeline_status=status,
    )


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
) -> tuple[SpeakerTimeline | None, catalog.SpeakerTimelineState]:
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


async def archive_media(
    client: MeetStreamClient,
    http: httpx.AsyncClient,
    bot_id: str,
    manifests: Manifests,
    *,
    media_root: str,
    storage_options: Mapping[str, object],
    expected: Mapping[str, str],
    concurrency: int = 4,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> list[ArchivedMedia]:
    """Copy every planned file into storage; a dead URL re-fetches the manifest it came from.

    `on_progress(files_done, files_total, bytes_done)` is called as each file is stored.
    """
    current = manifests
    items = plan.plan_media(bot_id, current.audio, current.video, current.mixed, current.composite)
    if items:  # a crashed earlier copy of this bot may have left temporary files
        root = await asyncio.to_thread(open_root, media_root, storage_options)
        bot_prefix = items[0].key.split("/", 1)[0]
        for path in await asyncio.to_thread(sweep_partial_files, root, bot_prefix):
            logger.info("Removed a crashed copy's temporary file %s", path)

    async def fetch_url(item: MediaFile, refresh: bool) -> str:
        nonlocal current
        if refresh:
            current = await _refetch(client, bot_id, item, current)
        return plan.segment_url(
            item, current.audio, current.video, current.mixed, current.composite
        )

    done = [0, 0]  # files, bytes

    def archived(media: ArchivedMedia) -> None:
        done[0] += 1
        done[1] += media.bytes or 0
        if on_progress is not None:
            on_progress(done[0], len(items), done[1])

    return await archive.archive_all(
        items,
        fetch_url_for=fetch_url,
        http=http,
        media_root=media_root,
        storage_options=storage_options,
        expected=expected,
        concurrency=concurrency,
        on_archived=archived,
    )


async def collect(
    client: MeetStreamClient,
    http: httpx.AsyncClient,
    bot_id: str,
    state: BotState,
    *,
    media_root: str,
    catalog_root: str,
    settings: Settings,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> Archived:
    """Wait for the manifests and archive every file. Files that fail for good are listed
    in `missing`, next to those that were archived (the bot is then `partial`)."""
    manifests = await fetch_manifests(
        client,
        bot_id,
        state=state,
        deadline_seconds=settings.processing_timeout_seconds,
        poll_interval=settings.poll_interval_seconds,
        poll_max_interval=settings.poll_max_interval_seconds,
    )
    options = settings.storage_options()
    expected = await asyncio.to_thread(
        catalog.existing_media_checksums, catalog_root, bot_id, storage_options=options
    )
    try:
        media = await archive_media(
            client,
            http,
            bot_id,
            manifests,
            media_root=media_root,
            storage_options=options,
            expected=expected,
            concurrency=settings.archive_concurrency,
            on_progress=on_progress,
        )
    except plan.ArchiveBatchError as exc:
        return Archived(manifests.without_urls(), exc.archived, exc.missing())
    return Archived(manifests.without_urls(), media)


async def _refetch(
    client: MeetStreamClient, bot_id: str, item: MediaFile, current: Manifests
) -> Manifests:
    if item.kind == "audio":
        return current.model_copy(update={"audio": await client.get_audio_streams(bot_id)})
    if item.kind in ("webcam", "screenshare"):
        return current.model_copy(update={"video": await client.get_recording_streams(bot_id)})
    if item.kind == "mixed_audio":
        return current.model_copy(update={"mixed": await client.get_audio(bot_id)})
    return current.model_copy(update={"composite": await client.get_video(bot_id)})


@dataclass(frozen=True)
class Archived:
    """What the archive step stored, and what it could not (`missing`: one line per file)."""

    manifests: Manifests  # without URLs
    media: list[ArchivedMedia]
    missing: list[str] = field(default_factory=list)


def outcome_for(state: BotState, archived: Archived) -> tuple[Outcome, str]:
    """(outcome, reason) for the bots table."""
    manifests = archived.manifests
    if state is BotState.DENIED:
        return Outcome.DENIED, "The host refused the bot entry."
    if state is BotState.NOT_ALLOWED:
        return Outcome.NOT_ALLOWED, "The bot was never admitted from the waiting room."
    if archived.missing:
        total = len(archived.media) + len(archived.missing)
        shown = "; ".join(archived.missing[:3]) + ("; ..." if len(archived.missing) > 3 else "")
        return Outcome.PARTIAL, (
            f"{len(archived.missing)} of {total} files not archived ({shown}). "
            "Collect the bot again to complete it; archived files are not copied twice."
        )
    audio_ok = manifests.audio is not None and manifests.audio.available
    video_ok = manifests.video is not None and manifests.video.available
    if state is BotState.ERROR:
        return Outcome.ERROR, "The bot's session crashed; media may be partial."
    if not audio_ok and not video_ok:
        messages = [m.message for m in (manifests.audio, manifests.video) if m and m.message]
        return Outcome.NO_MEDIA, " ".join(messages) or "No audio or video streams available."
    return Outcome.CAPTURED, ""


def catalogue(job: CaptureJob, bot_id: str, left: BotLeft, archived: Archived) -> CaptureResult:
    """Join the manifests and commit this bot's rows (replacing any earlier ones)."""
    request, manifests = job.request, archived.manifests
    link = request.meeting_link or left.meeting_link or ""
    bot_name = request.bot_name or left.bot_name or ""
    platform = left.platform or platform_from_link(link)
    # The bot may list itself as a participant; it is not an attendee without media.
    attendees = [
        a
        for a in manifests.attendees
        if join.normalize_name(a.display_name or "") != join.normalize_name(bot_name)
    ]
    turns = speech.merge_turns(manifests.timeline)
    participants = join.join_participants(
        bot_id,
        manifests.audio,
        manifests.video,
        archived.media,
        platform=platform,
        attendees=attendees,
        talk_by_device=speech.talk_by_device(turns),
    )
    participants, turn_rows = speech.attribute(
        bot_id, turns, participants, attendees, timeline_known=manifests.timeline is not None
    )
    outcome, reason = outcome_for(left.state, archived)
    record = catalog.bot_record(
        bot_id=bot_id,
        request_id=job.key,
        bot_name=bot_name,
        meeting_link=link,
        platform=platform,
        final_status=left.state.value,
        outcome=outcome.value,
        reason=reason,
        created_at=job.created_at,
        left_at=left.left_at,
        join_at=request.join_at,
        audio=manifests.audio,
        video=manifests.video,
        media=archived.media,
        participants=participants,
        custom_attributes=request.custom_attributes,
        run_id=job.run_id,
        speaker_timeline=manifests.timeline_status,
        speech_turns=len(turn_rows) if manifests.timeline is not None else None,
    )
    _write(job, record, archived.media, participants, turn_rows)
    return _result(record, missing=len(archived.missing))


def catalogue_in_progress(job: CaptureJob, bot_id: str, expected_end: dt.datetime) -> None:
    """Record that the bot exists, before any wait: a crash from here on loses no bot."""
    record = _request_record(
        job, bot_id, outcome=Outcome.IN_PROGRESS.value, expected_end_at=expected_end
    )
    _write(job, record, [], [])


def catalogue_failure(job: CaptureJob, bot_id: str, reason: str) -> bool:
    """Catalogue a bot whose capture failed, unless it already has a better row.

    An earlier finished capture's rows beat a failure row with no media, so they are kept;
    an `in_progress` (or earlier `failed`) row is replaced. Returns whether it wrote.
    """
    known = catalog.read_table(
        "bots",
        job.catalog_root,
        filters=[("bot_id", "==", bot_id)],
        columns=["outcome"],
        storage_options=job.settings.storage_options(),
    )
    if any(o not in (Outcome.IN_PROGRESS, Outcome.FAILED) for o in known["outcome"]):
        return False
    record = _request_record(
        job,
        bot_id,
        final_status=BotState.UNKNOWN.value,
        outcome=Outcome.FAILED.value,
        reason=reason,
    )
    _write(job, record, [], [])
    return True


def _request_record(job: CaptureJob, bot_id: str, **fields: Any) -> catalog.BotRecord:
    """A `bots` row from what the request says (no manifests): in progress, or failed."""
    request = job.request
    return catalog.bot_record(
        bot_id=bot_id,
        request_id=job.key,
        bot_name=request.bot_name,
        meeting_link=request.meeting_link,
        platform=platform_from_link(request.meeting_link),
        created_at=job.created_at,
        join_at=request.join_at,
        custom_attributes=request.custom_attributes,
        run_id=job.run_id,
        **fields,
    )


def _write(
    job: CaptureJob,
    record: catalog.BotRecord,
    media: Sequence[ArchivedMedia],
    participants: Sequence[join.ParticipantRow],
    turns: Sequence[speech.SpeechRow] | None = None,
) -> None:
    catalog.write_bot(
        job.catalog_root,
        bot=record,
        media=media,
        participants=participants,
        speech=turns,
        storage_options=job.settings.storage_options(),
    )


def _result(record: catalog.BotRecord, *, missing: int = 0) -> CaptureResult:
    return CaptureResult(
        meeting=record.meeting_link_redacted or "",
        bot_id=record.bot_id,
        outcome=Outcome(record.outcome or Outcome.FAILED),
        reason=record.reason or "",
        platform=record.platform,
        final_status=record.final_status,
        audio_participants=record.audio_participants,
        webcam_streams=record.webcam_streams,
        screenshare_streams=record.screenshare_streams,
        media_files=record.media_files,
        media_bytes=record.media_bytes,
        missing_files=missing,
    )
