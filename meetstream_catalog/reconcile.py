"""Account reconciliation: the bots MeetStream has that the catalog does not.

A calendar's auto-join, the dashboard or another tool creates bots this product never
sees. This module lists every bot of the account (`GET /bots`, paged) and the calendar's
scheduled bots (`GET /calendar/scheduled_bots`, paged), and sorts the ones the catalog
lacks: those that left their meeting are collected through the ordinary collect path
(`flows.meeting.run_meeting` with the bot's id), and those still in (or waiting for) a
meeting become `in_progress` rows, which `collect-pending` collects once they have left.
Both are attributed `bots.source = 'account'`.

Traps guarded here: a listing that never ends (a repeated cursor, `MAX_PAGES`); a bot
this product created whose create answer was lost (an unresolved intent for the same
meeting address): it is left to `collect-pending`, which re-sends its key and catalogues
it under its request, not as a stranger; and time (`--since` compares aware UTC instants).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from meetstream_catalog.job import CaptureJob, leave_deadline_seconds
from meetstream_catalog.meetstream.account import MAX_PAGES, AccountBot, BotPage
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import Settings

__all__ = ["ACCOUNT", "Plan", "account_bots", "expected_end", "job_for", "plan"]

ACCOUNT = "account"  # `bots.source` of a bot found at the account
Lister = Callable[..., Awaitable[BotPage]]


class EndlessListingError(RuntimeError):
    """The account's listing repeated a cursor or went past `MAX_PAGES`."""


async def account_bots(
    client: MeetStreamClient, *, since: dt.datetime | None = None
) -> list[AccountBot]:
    """Every bot of the account and every calendar-scheduled bot, once each (the account
    list's entry wins), created (or scheduled) at or after `since` if given."""
    bots = {b.bot_id: b for b in await _all_pages(client.list_scheduled_bots)}
    bots.update({b.bot_id: b for b in await _all_pages(client.list_bots)})
    if since is None:
        return list(bots.values())
    return [b for b in bots.values() if (b.created_at or b.join_at or since) >= since]


async def _all_pages(lister: Lister) -> list[AccountBot]:
    found: list[AccountBot] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page = await lister(cursor=cursor)
        found += page.bots
        cursor = page.next_cursor
        if cursor is None:
            return found
        if cursor in seen:
            raise EndlessListingError(f"the bot listing repeated its cursor after {len(found)}")
        seen.add(cursor)
    raise EndlessListingError(f"the bot listing went past {MAX_PAGES} pages")


@dataclass(frozen=True)
class Plan:
    """What reconciliation does with the account's bots the catalog lacks."""

    collect: list[AccountBot]  # left their meeting: archive and catalogue them now
    pending: list[AccountBot]  # in (or waiting for) a meeting: record them in progress
    left_to_pending: int = 0  # a lost create answer of ours: `collect-pending` resolves it


def plan(
    bots: list[AccountBot], *, known: Collection[str], unresolved_links: Collection[str]
) -> Plan:
    """Sort the bots: `known`, the catalog's bot ids; `unresolved_links`, the redacted
    addresses of intents whose create answer was never recorded."""
    strangers = [b for b in bots if b.bot_id not in known]
    ours = [b for b in strangers if b.meeting_link and b.meeting_link in unresolved_links]
    strangers = [b for b in strangers if b not in ours]
    return Plan(
        collect=[b for b in strangers if b.state.has_left],
        pending=[b for b in strangers if not b.state.has_left],
        left_to_pending=len(ours),
    )


def job_for(
    bot: AccountBot, *, settings: Settings, media: Root, catalog: Root, run_id: str | None
) -> CaptureJob:
    """The job that collects (or records) a bot found at the account: no request, no key."""
    return CaptureJob(
        key="",
        meeting_link=bot.meeting_link or "",
        bot_name=bot.bot_name or "",
        media_root=media,
        catalog_root=catalog,
        settings=settings,
        leave_deadline_seconds=leave_deadline_seconds(None),
        join_at=bot.join_at,
        run_id=run_id,
        source=ACCOUNT,
        created_at=bot.created_at or dt.datetime.now(dt.UTC),
    )


def expected_end(bot: AccountBot, now: dt.datetime) -> dt.datetime:
    """When a pending bot should have left: its join (or creation) plus the longest
    meeting and waiting room, so `collect-pending` asks before then and collects after."""
    start = bot.join_at or bot.created_at or now
    return start + dt.timedelta(seconds=leave_deadline_seconds(None, now=start))
