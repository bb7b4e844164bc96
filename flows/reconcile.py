"""The account reconciliation flow: catalogue the bots MeetStream has and the catalog lacks.

Wiring only: the listing and the sorting are `meetstream_catalog.reconcile`; a bot that
left its meeting is collected by the same path as `collect-bot` (`run_meeting` with its
id, one row per bot on the run's board); a bot still in a meeting becomes an `in_progress`
row for `collect-pending`. No bot is ever created here.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

import tasks
from flows.form import titled
from flows.meeting import (
    Board,
    CaptureFailedError,
    capture_in_batch,
    finish_many,
    preflight_once,
    write_artifacts,
)
from meetstream_catalog import reconcile
from meetstream_catalog.catalog import pending
from meetstream_catalog.job import CaptureJob, CaptureResult
from meetstream_catalog.meetstream.account import AccountBot
from meetstream_catalog.meetstream.http import Clients, open_clients
from meetstream_catalog.request.meeting import OptionalTime, as_utc
from tasks.settings import RunSettings


@flow(name="reconcile")
async def reconcile_account(
    since: Annotated[OptionalTime, titled("Bots created since (empty: all)")] = None,
    concurrency: Annotated[int, titled("Bots at once")] = 20,
) -> list[CaptureResult]:
    """Find every bot of the MeetStream account that the catalog does not have (created by
    a calendar's auto-join, the dashboard or another tool): collect those that have left
    their meeting, and record those still in one as in progress for `collect-pending`.
    Each is catalogued with `source = 'account'`."""
    logger = get_run_logger()
    run = await tasks.load_settings()
    await preflight_once(run, None)
    known = await asyncio.to_thread(pending.known_bots, run.catalog)
    unresolved = await asyncio.to_thread(pending.unresolved, run.catalog)
    async with open_clients(run.settings) as clients:
        try:
            bots = await tasks.list_account_bots(clients, as_utc(since) if since else None)
        except reconcile.EndlessListingError as exc:
            raise CaptureFailedError(f"reconcile: {exc}") from None
        todo = reconcile.plan(
            bots, known=set(known), unresolved_links={i.meeting_link for i in unresolved}
        )
        logger.info(
            "%d bot(s) at the account, %d not in the catalog: %d to collect, %d in or "
            "waiting for a meeting%s",
            len(bots),
            len(todo.collect) + len(todo.pending),
            len(todo.collect),
            len(todo.pending),
            f" ({todo.left_to_pending} left to collect-pending: a create answer of ours was lost)"
            if todo.left_to_pending
            else "",
        )
        if todo.pending:
            await tasks.record_in_progress([_job(b, run) for b in todo.pending], todo.pending)
        if not todo.collect:
            return []
        results = await _collect(todo.collect, run, clients, concurrency)
    await write_artifacts(results, run.catalog, key="account-reconciliation")
    return finish_many(results)  # type: ignore[return-value]


async def _collect(
    bots: list[AccountBot], run: RunSettings, clients: Clients, concurrency: int
) -> list[CaptureResult]:
    jobs = [_job(b, run) for b in bots]
    board = Board(jobs, key="account-reconciliation")
    await board.publish()
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(job: CaptureJob, bot: AccountBot) -> CaptureResult:
        async with gate:
            return await capture_in_batch(job, clients, board, bot.bot_id)

    return list(await asyncio.gather(*(one(j, b) for j, b in zip(jobs, bots, strict=True))))


def _job(bot: AccountBot, run: RunSettings) -> CaptureJob:
    return reconcile.job_for(
        bot,
        settings=run.settings,
        media=run.media,
        catalog=run.catalog,
        run_id=str(flow_run.get_id()),
    )
