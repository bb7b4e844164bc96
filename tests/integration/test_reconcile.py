"""Account reconciliation against the simulator: bots this product never created are
found through the paged list endpoints, collected with source 'account' (finished ones) or
recorded in progress (in a meeting, or scheduled by a calendar)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flows.collect import collect_pending
from flows.reconcile import reconcile_account
from meetstream_catalog import catalog
from meetstream_catalog.catalog import pending
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.reconcile import account_bots
from meetstream_catalog.simulator.scenario import load_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

ACCOUNT_SCENARIO = (
    Path(__file__).parents[2] / "meetstream_catalog" / "simulator" / "scenarios" / "account.yaml"
)
FINISHED = 3  # the scenario's bots that left their meetings long ago
IN_MEETING, SCHEDULED = "https://zoom.us/j/2000000004", "https://meet.google.com/sch-edul-edx"


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    # 60x: the scenario's in-meeting bot stays in for minutes of real time, the scheduled
    # one joins in ten; two bots a page, so every listing has several pages.
    config = SimulatorConfig(scenario=load_scenario(ACCOUNT_SCENARIO), speed=60, page_size=2)
    with serve_in_thread(config) as url:
        yield url


@pytest.fixture
def api(simulator_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    httpx.post(simulator_url.removesuffix("/api/v1") + "/_simulator/reset").raise_for_status()
    monkeypatch.setenv("MEETSTREAM_MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setenv("MEETSTREAM_CATALOG_ROOT", str(tmp_path / "catalog"))
    monkeypatch.setenv("MEETSTREAM_API_URL", simulator_url)
    monkeypatch.setenv("MEETSTREAM_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("MEETSTREAM_POLL_INTERVAL_SECONDS", "0.1")
    monkeypatch.setenv("MEETSTREAM_POLL_MAX_INTERVAL_SECONDS", "0.5")
    return simulator_url


async def test_the_listing_pages_through_every_bot_and_the_scheduled_one(api: str) -> None:
    async with MeetStreamClient(api_key=DEMO_API_KEY, base_url=api) as client:
        first = await client.list_bots()
        bots = await account_bots(client)
        scheduled = await client.list_scheduled_bots()
    assert len(first.bots) == 2
    assert first.next_cursor is not None
    assert len(bots) == 5
    assert [b.meeting_link for b in scheduled.bots] == [SCHEDULED]
    assert scheduled.bots[0].join_at is not None


@pytest.mark.usefixtures("prefect_api")
async def test_reconcile_collects_foreign_bots_and_leaves_live_ones_in_progress(
    api: str, tmp_path: Path
) -> None:
    root = str(tmp_path / "catalog")
    # Besides the scenario's five, a bot created directly at the simulator (another tool on
    # the same account): it is in its meeting now.
    direct = httpx.post(
        f"{api}/bots/create_bot",
        json={"meeting_link": "https://zoom.us/j/2000000009", "bot_name": "Another Tool"},
        headers={"Authorization": f"Token {DEMO_API_KEY}"},
    )
    direct.raise_for_status()
    results = await reconcile_account()
    bots = catalog.read_table("bots", root).set_index("bot_id")
    assert len(results) == FINISHED
    assert len(bots) == FINISHED + 3
    assert set(bots["source"]) == {"account"}
    finished = bots[bots["outcome"] != "in_progress"]
    assert len(finished) == FINISHED
    assert set(finished["outcome"]) <= {"captured", "partial", "no_media"}
    assert catalog.read_table("media", root)["bot_id"].nunique() >= 1
    waiting = {p.meeting_link: p for p in pending.in_progress(root)}
    assert set(waiting) == {IN_MEETING, SCHEDULED, "https://zoom.us/j/2000000009"}
    assert direct.json()["bot_id"] in {p.bot_id for p in waiting.values()}
    assert all(p.source == "account" for p in waiting.values())
    # A second run finds nothing new: every bot of the account is in the catalog.
    assert await reconcile_account() == []
    assert len(catalog.read_table("bots", root)) == FINISHED + 3
    # Once the directly created bot has left, collect-pending collects it, still 'account'.
    await _until_left(api, direct.json()["bot_id"])
    [collected] = await collect_pending()
    assert collected.bot_id == direct.json()["bot_id"]
    bots = catalog.read_table("bots", root).set_index("bot_id")
    row = bots.loc[collected.bot_id]
    assert row["outcome"] != "in_progress"
    assert row["source"] == "account"


async def _until_left(api: str, bot_id: str) -> None:
    async with MeetStreamClient(api_key=DEMO_API_KEY, base_url=api) as client:
        for _ in range(600):
            if (await client.get_status(bot_id)).state.has_left:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"bot {bot_id} never left its meeting")
