"""The media tasks: collect both manifests and archive every file; delete at MeetStream.

Collecting and archiving are one task on purpose: the manifests hold presigned URLs, and a
task's result is kept by Prefect (and may be shown). The task returns them without URLs
(`Archived`), and a URL that died mid-copy is answered by fetching the manifest again inside
the task.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from meetstream_catalog import capture, retention
from meetstream_catalog.job import Archived, CaptureJob
from meetstream_catalog.meetstream.bot import BotState
from meetstream_catalog.meetstream.http import Clients
from meetstream_catalog.redaction import redact
from tasks.progress import ArchiveProgress, progress


@task(name="archive-media", cache_policy=NO_CACHE)
async def archive_media(
    job: CaptureJob,
    clients: Clients,
    bot_id: str,
    state: BotState,
    transcript_id: str | None = None,
) -> Archived:
    """Collect both manifests (and the transcript) and copy every file; returns them
    without URLs."""
    archived = await capture.collect(
        clients, job, bot_id, state, ArchiveProgress(bot_id), transcript_id=transcript_id
    )
    if archived.manifests.transcript_status not in (None, "not_requested", "available", "empty"):
        get_run_logger().warning(
            "Bot %s: transcript %s", bot_id, archived.manifests.transcript_status
        )
    for line in archived.missing:
        get_run_logger().warning("Bot %s: not archived: %s", bot_id, line)
    return archived


@task(name="delete-at-source", cache_policy=NO_CACHE)
async def delete_at_source(
    job: CaptureJob, clients: Clients, bot_id: str, archived: Archived
) -> bool:
    """Delete the bot's data at MeetStream if every file is archived, verified and committed
    (`meetstream_catalog.retention`). Never raises: the meeting is captured either way."""
    try:
        m = archived.manifests
        done = await retention.delete_if_archived(
            clients.api,
            bot_id,
            retention.planned_keys(bot_id, m.audio, m.video, m.mixed, m.composite),
            catalog_root=job.catalog_root,
            media_root=job.media_root,
            concurrency=job.settings.archive_concurrency,
        )
    except Exception as exc:  # noqa: BLE001 - a failed delete leaves the data, not the meeting
        done = retention.Deletion(False, f"{type(exc).__name__}: {redact(str(exc))}")
    if done.deleted and done.recorded:
        progress(
            "Bot %s: data deleted at MeetStream (%s objects)",
            bot_id,
            done.deleted_objects,
            bot_id=bot_id,
        )
    else:
        get_run_logger().warning(
            "Bot %s: %s at MeetStream: %s",
            bot_id,
            "data deleted" if done.deleted else "data kept",
            redact(done.reason),
        )
    return done.deleted
