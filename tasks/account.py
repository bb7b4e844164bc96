"""The reconciliation's tasks: list the account's bots, record the pending ones.

The listing is one task (its pages are plain calls inside it: a task run per page would
cost more than the call); the client retries each page's transient failures.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE

from meetstream_catalog import catalogue, reconcile
from meetstream_catalog.job import CaptureJob
from meetstream_catalog.meetstream.account import AccountBot
from meetstream_catalog.meetstream.http import Clients


@task(name="list-account-bots", cache_policy=NO_CACHE)
async def list_account_bots(clients: Clients, since: dt.datetime | None) -> list[AccountBot]:
    """Every bot of the account and the calendar's scheduled bots (all pages)."""
    return await reconcile.account_bots(clients.api, since=since)


@task(name="record-account-bots", cache_policy=NO_CACHE)
async def record_in_progress(jobs: list[CaptureJob], bots: list[AccountBot]) -> None:
    """Record bots found in (or waiting for) a meeting as `in_progress`, one row each, so
    `collect-pending` collects them once they have left."""
    now = dt.datetime.now(dt.UTC)
    for job, bot in zip(jobs, bots, strict=True):
        end = reconcile.expected_end(bot, now)
        await asyncio.to_thread(catalogue.catalogue_in_progress, job, bot.bot_id, end)
