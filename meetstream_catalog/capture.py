"""One meeting's capture up to its files, as plain async steps: create the bot, wait until
it left, collect both manifests and archive every file (`catalogue` then writes the rows).

`tasks/` wraps each step in a Prefect task; nothing here imports Prefect, so every step
runs and tests without a Prefect API. Each step takes the run's `CaptureJob` (built once,
at the edge) and the clients the flow opened. The traps guarded here:

- the idempotency key travels with the job, derived once from the request, so a retried
  task or a re-run flow replays the same bot (507) instead of a second one;
- a bot exists from the moment `create_bot` answers: `catalogue.catalogue_in_progress`
  records it before any wait, so a crashed run's bot is found and collected;
- one file that fails for good does not discard the others: `Archived.missing` names it,
  and a later collect completes the bot without copying twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping

from meetstream_catalog import archive, catalog
from meetstream_catalog.archive import plan
from meetstream_catalog.archive.files import ArchivedMedia, MediaFile
from meetstream_catalog.archive.storage import open_root, sweep_partial_files
from meetstream_catalog.job import Archived, BotLeft, CaptureJob
from meetstream_catalog.meetstream.bot import BotCreated, BotState, BotStatus
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.meetstream.http import Clients
from meetstream_catalog.meetstream.manifests import Manifests, fetch_manifests, refetch
from meetstream_catalog.roots import Root

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
        transcript_id=detail.transcript_id,
        transcript_provider=detail.transcript_provider,
    )


async def archive_media(
    clients: Clients,
    bot_id: str,
    manifests: Manifests,
    *,
    media_root: Root,
    expected: Mapping[str, str],
    concurrency: int = 4,
    budget: float,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> list[ArchivedMedia]:
    """Copy every planned file into storage; a dead URL re-fetches the manifest it came from.

    `on_progress(files_done, files_total, bytes_done)` is called as each file is stored.
    """
    current = manifests
    items = plan.plan_media(bot_id, current.audio, current.video, current.mixed, current.composite)
    if items:  # a crashed earlier copy of this bot may have left temporary files
        root = await asyncio.to_thread(open_root, media_root)
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
        expected=expected,
        concurrency=concurrency,
        on_archived=archived,
        budget=budget,
    )


async def collect(
    clients: Clients,
    job: CaptureJob,
    bot_id: str,
    state: BotState,
    on_progress: Callable[[int, int, int], None] | None = None,
    *,
    transcript_id: str | None = None,
) -> Archived:
    """Wait for the manifests (and the transcript `transcript_id`, if any) and archive
    every file. Files that fail for good are listed in `missing`, next to those that were
    archived (the bot is then `partial`)."""
    settings = job.settings
    manifests = await fetch_manifests(
        clients.api,
        bot_id,
        state=state,
        transcript_id=transcript_id,
        deadline_seconds=settings.processing_timeout_seconds,
        poll_interval=settings.poll_interval_seconds,
        poll_max_interval=settings.poll_max_interval_seconds,
    )
    expected = await asyncio.to_thread(catalog.existing_media_checksums, job.catalog_root, bot_id)
    try:
        media = await archive_media(
            clients,
            bot_id,
            manifests,
            media_root=job.media_root,
            expected=expected,
            concurrency=settings.archive_concurrency,
            budget=settings.outage_tolerance_seconds,
            on_progress=on_progress,
        )
    except plan.ArchiveBatchError as exc:
        return Archived(manifests.without_urls(), exc.archived, exc.missing())
    return Archived(manifests.without_urls(), media)
