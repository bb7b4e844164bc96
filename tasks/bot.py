"""The bot's tasks: create it (and record it), wait on its status until it left.

Retries: none here. Transient failures are retried in one place, the client's
time-budgeted policy; a Prefect task retry on top would repeat each call up to budget x
retries and restart a wait's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from meetstream_catalog import capture, catalogue
from meetstream_catalog.catalog.intents import IntentState
from meetstream_catalog.job import BotLeft, CaptureJob
from meetstream_catalog.meetstream.bot import BotStatus
from meetstream_catalog.meetstream.errors import MeetStreamError
from meetstream_catalog.meetstream.http import Clients
from meetstream_catalog.redaction import redact
from tasks.progress import StatusReport, progress
from tasks.settings import forget_link


@task(name="create-bot", cache_policy=NO_CACHE)
async def create_bot(job: CaptureJob, clients: Clients) -> str:
    """Create (or replay) the bot, then record it as `in_progress` before any wait.

    The job's intent is in the catalog already (`catalogue.record_intents`, written by the
    flow before this call): a crash while the call is in flight, or before the row below is
    committed, leaves an intent that the next invocation re-sends with the same key."""
    try:
        created = await capture.create_bot(clients.api, job)
    except MeetStreamError as exc:
        if exc.status_code is not None and 400 <= exc.status_code < 500:
            # Refused, so no bot exists: nobody needs to re-send this intent (if this write
            # fails, a re-send is refused again: no bot, no cost).
            with contextlib.suppress(Exception):
                await asyncio.to_thread(catalogue.settle_intent, job, IntentState.REFUSED)
        raise
    progress(
        "Bot %s %s for %s (%s); if this run stops, resume with: meetstream-catalog collect %s",
        created.bot_id,
        "reused" if created.replayed else "created",
        job.meeting_link,
        job.run_name,
        created.bot_id,
        bot_id=created.bot_id,
    )
    expected_end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=job.leave_deadline_seconds)
    try:
        await asyncio.to_thread(catalogue.catalogue_in_progress, job, created.bot_id, expected_end)
    except Exception as exc:  # noqa: BLE001 - the bot exists: losing its id is worse
        get_run_logger().warning(
            "Bot %s: could not record it as in progress (%s); the capture goes on",
            created.bot_id,
            redact(str(exc)),
        )
    else:
        await forget_link(job.request)  # recorded: the passcode is never needed again
    return created.bot_id


@task(name="wait-until-left", cache_policy=NO_CACHE)
async def wait_until_left(
    job: CaptureJob, clients: Clients, bot_id: str, *, existing: bool = False
) -> BotLeft:
    """Poll the bot's status until it left. For a bot that existed before this run
    (collect, webhook-triggered collection) its detail is asked first: a bot that already
    left costs no status poll at all."""
    report = StatusReport(bot_id, job.leave_deadline_seconds)

    def polled(status: BotStatus) -> None:
        report(status.status)

    left = await capture.wait_until_left(clients.api, job, bot_id, existing, on_status=polled)
    progress("Bot %s left the meeting: %s", bot_id, left.state.value, bot_id=bot_id)
    return left


@task(name="check-pending-bots", cache_policy=NO_CACHE)
async def bots_that_left(clients: Clients, bot_ids: list[str]) -> list[str]:
    """Of these in-progress bots, the ones whose status says they have left the meeting."""
    gate = asyncio.Semaphore(20)

    async def left(bot_id: str) -> bool:
        async with gate:
            try:
                return (await clients.api.get_status(bot_id)).state.has_left
            except MeetStreamError as exc:  # unknown for now: the next reconciliation asks
                get_run_logger().warning("Bot %s: status unknown (%s)", bot_id, exc)
                return False

    answers = await asyncio.gather(*(left(b) for b in bot_ids))
    return [b for b, gone in zip(bot_ids, answers, strict=True) if gone]
