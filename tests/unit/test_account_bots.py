"""The account's bot listings: liberal page shapes, paging by cursor, an endless listing
cut off, and which bots reconciliation collects, records pending, or leaves alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest

from meetstream_catalog.meetstream.account import AccountBot, BotPage
from meetstream_catalog.meetstream.bot import BotState
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.reconcile import EndlessListingError, account_bots, expected_end, plan
from meetstream_catalog.simulator.app import create_app
from meetstream_catalog.simulator.scenario import AccountBotScript, Scenario
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig
from tests.unit.conftest import FakeAPI

Build = Callable[..., MeetStreamClient]


@pytest.mark.parametrize(
    "body",
    [
        {"bots": [{"bot_id": "b1"}], "hasNextPage": True, "nextCursor": "c2"},
        {"results": [{"BotID": "b1"}], "has_next_page": True, "next_cursor": "c2"},
        {"data": [{"id": "b1"}], "nextCursor": "c2"},
    ],
)
def test_page_shapes_are_read_liberally(body: dict[str, object]) -> None:
    page = BotPage.model_validate(body)
    assert [b.bot_id for b in page.bots] == ["b1"]
    assert page.next_cursor == "c2"


def test_the_last_page_has_no_cursor_and_a_link_keeps_no_passcode() -> None:
    page = BotPage.model_validate(
        {
            "bots": [{"bot_id": "b1", "meeting_url": "https://zoom.us/j/1?pwd=s3cret"}],
            "hasNextPage": False,
            "nextCursor": "ignored",
        }
    )
    assert page.next_cursor is None
    assert page.bots[0].meeting_link == "https://zoom.us/j/1"
    assert BotPage.model_validate([{"bot_id": "b2"}]).bots[0].bot_id == "b2"


async def test_the_client_pages_both_lists_by_cursor(api: FakeAPI, make_client: Build) -> None:
    api.add(
        json={"scheduled_bots": [{"bot_id": "s1", "scheduled_join_time": "2026-12-05T10:00:00Z"}]}
    )
    api.add(
        json={
            "bots": [{"bot_id": "b1", "status": "Done"}],
            "hasNextPage": True,
            "nextCursor": "n/2",
        }
    )
    api.add(json={"bots": [{"bot_id": "b2", "status": "InMeeting"}], "hasNextPage": False})
    bots = await account_bots(make_client())
    assert [b.bot_id for b in bots] == ["s1", "b1", "b2"]
    assert [r.url.path for r in api.requests] == [
        "/api/v1/calendar/scheduled_bots",
        "/api/v1/bots",
        "/api/v1/bots",
    ]
    assert api.requests[2].url.params["cursor"] == "n/2"
    assert bots[0].state is BotState.SCHEDULED
    assert bots[0].join_at == dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC)


async def test_a_repeated_cursor_ends_the_listing_with_an_error(
    api: FakeAPI, make_client: Build
) -> None:
    api.add(json={"scheduled_bots": []})
    api.add(json={"bots": [{"bot_id": "b1"}], "nextCursor": "same"}, times=2)
    with pytest.raises(EndlessListingError, match="repeated its cursor"):
        await account_bots(make_client())


async def test_since_keeps_recent_bots_and_those_without_a_time(
    api: FakeAPI, make_client: Build
) -> None:
    api.add(json={"scheduled_bots": []})
    api.add(
        json={
            "bots": [
                {"bot_id": "old", "created_at": "2026-11-01T00:00:00Z"},
                {"bot_id": "new", "created_at": "2026-12-03T00:00:00+00:00"},
                {"bot_id": "unknown"},
            ]
        }
    )
    since = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert [b.bot_id for b in await account_bots(make_client(), since=since)] == ["new", "unknown"]


def bot(bot_id: str, status: str | None, link: str = "https://zoom.us/j/9") -> AccountBot:
    return AccountBot.model_validate({"bot_id": bot_id, "status": status, "meeting_link": link})


def test_the_plan_collects_left_bots_and_records_live_ones_the_catalog_lacks() -> None:
    bots = [
        bot("known", "Done"),
        bot("done", "Done"),
        bot("denied", "Denied"),
        bot("live", "InMeeting"),
        bot("ours", "Done", "https://meet.google.com/abc-defg-hij"),
    ]
    todo = plan(bots, known={"known"}, unresolved_links={"https://meet.google.com/abc-defg-hij"})
    assert [b.bot_id for b in todo.collect] == ["done", "denied"]
    assert [b.bot_id for b in todo.pending] == ["live"]
    assert todo.left_to_pending == 1


def test_a_pending_bot_is_expected_to_end_after_its_longest_meeting() -> None:
    join = dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC)
    scheduled = AccountBot(bot_id="s", join_at=join, scheduled=True)
    assert expected_end(scheduled, join - dt.timedelta(days=1)) == join + dt.timedelta(minutes=280)


async def test_the_simulator_pages_its_account_and_lists_scheduled_bots() -> None:
    scenario = Scenario(
        account_bots=(
            AccountBotScript("https://zoom.us/j/1", started_minutes_ago=90),
            AccountBotScript("https://zoom.us/j/2", started_minutes_ago=1),
            AccountBotScript("https://zoom.us/j/3", scheduled_in_minutes=60),
        )
    )
    app = create_app(SimulatorConfig(scenario=scenario, speed=0, page_size=2))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    async with MeetStreamClient(
        api_key=DEMO_API_KEY, base_url="http://sim/api/v1", http=http
    ) as client:
        first = await client.list_bots()
        second = await client.list_bots(cursor=first.next_cursor)
        scheduled = await client.list_scheduled_bots()
    await http.aclose()
    assert [len(first.bots), len(second.bots), second.next_cursor] == [2, 1, None]
    states = [b.state for b in [*first.bots, *second.bots]]
    assert states[0].has_left
    assert not states[1].has_left
    assert states[2] is BotState.SCHEDULED
    assert [b.meeting_link for b in scheduled.bots] == ["https://zoom.us/j/3"]
