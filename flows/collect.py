"""Collect flows: a bot that already exists, and every pending bot whose meeting is over.

Wiring only, like `flows.capture`: no bot is ever created here. A bot's request comes from
its `in_progress` row in the catalog (written the moment it was created), or, for a bot
created elsewhere, from its detail once it has left.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

import tasks
from flows.form import titled
from flows.meeting import (
    Board,
    capture_in_batch,
    finish,
    finish_many,
    preflight_once,
    run_meeting,
    write_artifacts,
)
from meetstream_catalog.catalog import intents, pending
from meetstream_catalog.catalog.intents import Intent
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.job import CaptureJob, CaptureResult, leave_deadline_seconds
from meetstream_catalog.meetstream.http import Clients, open_clients
from meetstream_catalog.redaction import redact
from tasks.settings import LINK_SECRET, RunSettings


def _collect_run_name() -> str:
    return f"collect · bot {flow_run.get_parameters().get('bot_id', '?')}"


@flow(name="collect-bot", flow_run_name=_collect_run_name)
async def collect_bot(bot_id: Annotated[str, titled("Bot id")]) -> CaptureResult:
    """Archive and catalogue a bot that already exists (created elsewhere, or by a capture
    that was interrupted) without creating one."""
    run = await tasks.load_settings()
    root = run.catalog
    done = await asyncio.to_thread(pending.finished, bot_id, root)
    if done is not None:  # a duplicate trigger, or a collect of a finished bot
        get_run_logger().info("Bot %s is already catalogued (%s): nothing to do", bot_id, done)
        return CaptureResult(meeting="", bot_id=bot_id, outcome=Outcome(done))
    waiting = await asyncio.to_thread(pending.in_progress, root)
    known = {p.bot_id: p for p in waiting}.get(bot_id)
    await preflight_once(run, None)
    # What the request said comes from the catalog's in-progress row, or (a bot created
    # elsewhere) from the bot's detail once it has left.
    job = _bot_job(known, run)
    async with open_clients(run.settings) as clients:
        result = await run_meeting(job, clients, bot_id=bot_id)
    await write_artifacts([result], job.catalog_root, key="bot-collection", timeline=True)
    return finish(result)  # type: ignore[return-value]


@flow(name="collect-pending")
async def collect_pending(
    concurrency: Annotated[int, titled("Meetings at once")] = 50,
) -> list[CaptureResult]:
    """Collect every bot recorded `in_progress` whose meeting should be over: the bots of
    runs that crashed or were interrupted (and of webhooks that never came). First, a
    create call whose answer was never recorded (an intent without a bot) is re-sent with
    its key, so MeetStream names the bot it created, and that bot joins the others."""
    run = await tasks.load_settings()
    root = run.catalog
    waiting = await asyncio.to_thread(pending.in_progress, root)
    unresolved = await asyncio.to_thread(pending.unresolved, root)
    now = dt.datetime.now(dt.UTC)
    if not waiting and not unresolved:
        get_run_logger().info("0 in-progress bot(s): nothing to collect")
        return []
    await preflight_once(run, None)
    async with open_clients(run.settings) as clients:
        waiting += await _resolve(unresolved, run, clients, now)
        overdue = [p for p in waiting if p.overdue(now)]
        others = [p.bot_id for p in waiting if not p.overdue(now)]
        # A lost webhook is never resent: ask MeetStream (one status call per bot) whether
        # the others have left, so they are collected now rather than at their expected end.
        left = set(await tasks.bots_that_left(clients, others)) if others else set()
        due = overdue + [p for p in waiting if p.bot_id in left]
        get_run_logger().info(
            "%d in-progress bot(s): %d past their expected end, %d left their meeting",
            len(waiting),
            len(overdue),
            len(left),
        )
        if not due:
            return []
        gate = asyncio.Semaphore(concurrency)
        jobs = [_bot_job(p, run) for p in due]
        board = Board(jobs, key="pending-collection")
        await board.publish()

        async def one(job: CaptureJob, bot: pending.PendingBot) -> CaptureResult:
            async with gate:
                return await capture_in_batch(job, clients, board, bot.bot_id)

        results = list(await asyncio.gather(*(one(j, p) for j, p in zip(jobs, due, strict=True))))
    await write_artifacts(results, root, key="pending-collection")
    return finish_many(results)  # type: ignore[return-value]


async def _resolve(
    unresolved: list[Intent], run: RunSettings, clients: Clients, now: dt.datetime
) -> list[pending.PendingBot]:
    """Re-send each unresolved intent's create call with its key; the bots it names.

    Left alone: intents younger than the create call's own retry budget (their run may
    still be retrying it: two simultaneous first calls are the one case MeetStream's key
    does not cover), and those whose link had a passcode that is nowhere to be found (the
    catalog never keeps it; a fan-out run's Secret block does). Past their deadline,
    intents are settled as `abandoned` with a warning that names their key.
    """
    logger = get_run_logger()
    settle_after = dt.timedelta(seconds=run.settings.outage_tolerance_seconds + 60)
    found: list[pending.PendingBot] = []
    for intent in unresolved:
        if intent.written_at > now - settle_after:
            continue
        if intent.expires_at <= now:
            logger.warning(
                "A create call for %s (key %s) was never answered and its meeting is over: "
                "if MeetStream has a bot for that key, collect it with meetstream-catalog "
                "collect BOT_ID",
                intent.meeting_link,
                intent.key,
            )
            await asyncio.to_thread(intents.settle, run.catalog, intent)
            continue
        try:
            # The passcode, if any, from the fan-out's Secret block (the catalog has none).
            secret = LINK_SECRET.format(key=intent.key)
            request = await tasks.resolve_link(intent.request(link_secret=secret))
        except ValueError:
            request = None
        if request is None or (intent.link_has_secret and request.full_link is None):
            logger.warning(
                "A create call for %s (key %s) was never answered; its link had a passcode "
                "this run cannot know: run the same capture again to resolve it",
                intent.meeting_link,
                intent.key,
            )
            continue
        job = CaptureJob.for_request(
            request,
            key=intent.key,
            settings=run.settings,
            media_root=run.media,
            catalog_root=run.catalog,
            run_id=str(flow_run.get_id()),
        )
        try:
            bot_id = await tasks.create_bot(job, clients)
        except Exception as exc:  # noqa: BLE001 - one intent must not stop the others
            logger.warning(
                "Re-sending the create call for %s failed: %s",
                intent.meeting_link,
                redact(str(exc)),
            )
            continue
        found.append(
            pending.PendingBot(
                bot_id=bot_id,
                key=intent.key,
                meeting_link=intent.meeting_link,
                bot_name=intent.bot_name,
                custom_attributes=intent.custom_attributes,
                expected_end_at=intent.expires_at,
            )
        )
    return found


def _bot_job(known: pending.PendingBot | None, run: RunSettings) -> CaptureJob:
    """The job for a bot that exists: what its in-progress row says, if it has one."""
    return CaptureJob(
        key=known.key if known else "",
        meeting_link=known.meeting_link if known else "",
        bot_name=known.bot_name if known else "",
        media_root=run.media,
        catalog_root=run.catalog,
        settings=run.settings,
        leave_deadline_seconds=leave_deadline_seconds(None),
        custom_attributes=known.custom_attributes if known else {},
        run_id=str(flow_run.get_id()),
        source=known.source if known else None,
    )
