"""The catalog tasks: join the manifests and write the bot's rows; record a failure.

Delta commits block, so they run in a thread, off the event loop that holds every other
waiting meeting of the process. Writers need no lock: each commit is atomic and retried
on conflict.
"""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from meetstream_catalog import catalogue
from meetstream_catalog.job import Archived, BotLeft, CaptureJob, CaptureResult
from tasks.progress import progress


@task(name="write-catalog", cache_policy=NO_CACHE)
async def write_catalog(
    job: CaptureJob, bot_id: str, left: BotLeft, archived: Archived
) -> CaptureResult:
    """Join the two manifests by participant and commit the bot's rows."""
    result = await asyncio.to_thread(catalogue.catalogue, job, bot_id, left, archived)
    progress(
        "Bot %s catalogued: %s, %s files, %s participants with audio%s",
        bot_id,
        result.outcome.value,
        result.media_files,
        result.audio_participants,
        f" ({result.reason})" if result.reason else "",
        bot_id=bot_id,
    )
    return result


@task(name="record-failure", cache_policy=NO_CACHE)
async def record_failure(job: CaptureJob, bot_id: str, reason: str) -> bool:
    """Catalogue a failed capture, unless the bot already has a better row."""
    return await asyncio.to_thread(catalogue.catalogue_failure, job, bot_id, reason)
