"""One meeting's capture, as plain async steps: create, wait, collect and archive, catalogue.

`tasks/` wraps each step in a Prefect task; nothing here imports Prefect, so every step
runs and tests without a Prefect API. Each step takes the run's `CaptureJob` (built once,
at the edge) and the clients the flow opened. The traps guarded here:

- the idempotency key travels with the job, derived once from the request, so a retried
  task or a re-run flow replays the same bot (507) instead of a second one;
- a bot exists from the moment `create_bot` answers: `catalogue_in_progress` records it
  before any wait, so a crashed run's bot is found and collected, never paid for twice;
- Denied / NotAllowed / Error bots and "no streams available" are outcomes to catalogue,
  not exceptions;
- one file that fails for good does not discard the others: the bot is `partial`, with
  the missing files named, and a later collect completes it without copying twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from meetstream_catalog import archive, catalog
from meetstream_catalog.archive import plan
from meetstream_catalog.archive.storage import open_root, sweep_partial_files
from meetstream_catalog.catalog import join, speech
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.job import BotLeft, CaptureJob, CaptureResult
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.meetstream.http import Clients
from meetstream_catalog.meetstream.manifests import Manifests, fetch_manifests, refetch
from meetstream_catalog.meetstream.models import (
    ArchivedMedia,
    BotCreated,
    BotState,
    BotStatus,
    MediaFile,
)

logger = logging.getLogger(__name__)


async def create_bot(client: MeetStreamClient, job: CaptureJob) -> BotCreated:
    """Create (or replay: 507 with the same key) the job's bot. With the job's
    `callback_url`, MeetStream posts the bot's webhooks there (webhook mode)."""
    request = job.request
    if request is None:
        raise ValueError("this job collects an existing bot; it has no request to create one")
    return await client.create_bot(
        callback_url=job.callback_url,
        meeting_link=request.link(),
        bot_name=request.bot_name,
        idempotency_key=job.key,
        audio_separate_streams=True,
        video_separate_streams=True,
        video_required=request.composite_video,
        join_at=request.join_at,
        custom_attributes=request.custom_attributes or None,
    )


async def wait_until_left(
    client: MeetStreamClient,
    job: CaptureJob,
    bot_id: str,
    existing: bool,
    *,
    on_status: Callable[[BotStatus], None] | None = None,
) -> BotLeft:
    """Poll until the bot left (within the job's leave deadline); how it left.

    `existing`: a bot created before this run; its detail is asked first, and one that
    already left costs no status poll at all."""
    settings = job.settings
    detail = await client.get_detail(bot_id) if existing else None
    if detail is None or not BotState.parse(detail.status).has_left:
        await client.wait_until_left(
            bot_id,
            timeout=job.leave_deadline_seconds,
            initial_interval=settings.poll_interval_seconds,
            max_interval=settings.poll_max_interval_seconds,
            on_status=on_status,
        )
        detail = await client.get_detail(bot_id)
    final = BotState.parse(detail.status)
    return BotLeft(
        state=detail.exit_state() if final is BotState.DONE else final,
        platform=detail.platform,
        meeting_link=detail.meeting_link,
        bot_name=detail.bot_name,
        left_at=dt.datetime.now(dt.UTC),
    )


async def archive_media(
    clients: Clients,
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
            current = await refetch(clients.api, bot_id, item.kind, current)
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
        http=clients.media,  # presigned URLs: never the API client with its Token header
        media_root=media_root,
        storage_options=storage_options,
        expected=expected,
        concurrency=concurrency,
        on_archived=archived,
    )


async def collect(
    clients: Clients,
    job: CaptureJob,
    bot_id: str,
    state: BotState,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> Archived:
    """Wait for the manifests and archive every file. Files that fail for good are listed
    in `missing`, next to those that were archived (the bot is then `partial`)."""
    settings = job.settings
    manifests = await fetch_manifests(
        clients.api,
        bot_id,
        state=state,
        deadline_seconds=settings.processing_timeout_seconds,
        poll_interval=settings.poll_interval_seconds,
        poll_max_interval=settings.poll_max_interval_seconds,
    )
    options = settings.storage_options()
    expected = await asyncio.to_thread(
        catalog.existing_media_checksums, job.catalog_root, bot_id, storage_options=options
    )
    try:
        media = await archive_media(
            clients,
            bot_id,
            manifests,
            media_root=job.media_root,
            storage_options=options,
            expected=expected,
            concurrency=settings.archive_concurrency,
            on_progress=on_progress,
        )
    except plan.ArchiveBatchError as exc:
        return Archived(manifests.without_urls(), exc.archived, exc.missing())
    return Archived(manifests.without_urls(), media)


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
    manifests = archived.manifests
    link = job.meeting_link or left.meeting_link or ""
    bot_name = job.bot_name or left.bot_name or ""
    platform = left.platform or job.platform
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
        join_at=job.join_at,
        audio=manifests.audio,
        video=manifests.video,
        media=archived.media,
        participants=participants,
        custom_attributes=job.custom_attributes,
        run_id=job.run_id,
        speaker_timeline=manifests.timeline_status,
        speech_turns=len(turn_rows) if manifests.timeline is not None else None,
    )
    _write(job, record, archived.media, participants, turn_rows)
    return _result(record, missing=len(archived.missing))


def catalogue_in_progress(job: CaptureJob, bot_id: str, expected_end: dt.datetime) -> None:
    """Record that the bot exists, before any wait: a crash from here on loses no bot."""
    record = _request_record(job, bot_id, Outcome.IN_PROGRESS, expected_end_at=expected_end)
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
    record = _request_record(job, bot_id, Outcome.FAILED, reason=reason)
    _write(job, record, [], [])
    return True


def _request_record(
    job: CaptureJob,
    bot_id: str,
    outcome: Outcome,
    *,
    reason: str | None = None,
    expected_end_at: dt.datetime | None = None,
) -> catalog.BotRecord:
    """A `bots` row from what the job says (no manifests): in progress, or failed."""
    return catalog.bot_record(
        bot_id=bot_id,
        request_id=job.key,
        bot_name=job.bot_name,
        meeting_link=job.meeting_link,
        platform=job.platform,
        final_status=None if outcome is Outcome.IN_PROGRESS else BotState.UNKNOWN.value,
        outcome=outcome.value,
        reason=reason,
        created_at=job.created_at,
        join_at=job.join_at,
        custom_attributes=job.custom_attributes,
        run_id=job.run_id,
        expected_end_at=expected_end_at,
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
