"""The scheduled batch over an iCalendar feed on the real server and worker: one bot per
occurrence of a weekly meeting with a moved occurrence and an exception date, a single
meeting and a cancelled one, through two overlapping windows and a re-run.

The runs go to the `webhooks` queue, whose worker runs captures in webhook mode: a run
creates its bots and ends, so occurrences weeks ahead do not hold a worker until they
start. The feed is tests/integration/test_calendar_batch.py's, with links of its own.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import arun_deployment

from tests.integration.test_calendar_batch import CANCELLED, SINGLE, WEEKLY, feed

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True, scope="module")
def _collect_prefect_leftovers() -> Iterator[None]:
    yield
    gc.collect()


def _bots(stack: Stack) -> list[str]:
    """Meeting URLs of the simulator's bots for this feed's meetings."""
    admin = stack.simulator_url.removesuffix("/api/v1") + "/_simulator/bots"
    every: list[dict[str, Any]] = httpx.get(admin).json()["bots"]
    ours = {WEEKLY, SINGLE, CANCELLED}
    return sorted(str(b["meeting_url"]) for b in every if b["meeting_url"] in ours)


async def _batch(stack: Stack, feed_path: str, now: dt.datetime, minutes: int) -> FlowRun:
    async with get_client() as client:
        run = await arun_deployment(
            "capture-scheduled/capture-scheduled",
            client=client,
            parameters={
                "meetings_url": feed_path,
                "window_minutes": minutes,
                "now": now.isoformat(),
            },
            work_queue_name="webhooks",
            timeout=300,
        )
    assert isinstance(run, FlowRun)
    assert run.state is not None
    assert run.state.is_completed(), stack.tail()
    return run


async def test_each_calendar_occurrence_gets_one_bot_across_windows_and_reruns(
    stack: Stack,
) -> None:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    path = stack.work_dir / "team.ics"
    path.write_bytes(feed(now + dt.timedelta(minutes=5)))
    eight_days = 8 * 24 * 60

    # The first weekly, the single meeting and the moved second weekly; never the cancelled.
    await _batch(stack, str(path), now, eight_days)
    assert _bots(stack) == sorted([WEEKLY, WEEKLY, SINGLE])
    # A re-run of the same window: the same keys, MeetStream replays the bots.
    await _batch(stack, str(path), now, eight_days)
    assert _bots(stack) == sorted([WEEKLY, WEEKLY, SINGLE])
    # An overlapping window: the moved occurrence again (same bot) and the fourth weekly
    # (the third is an exception date).
    await _batch(stack, str(path), now + dt.timedelta(days=6), eight_days * 2)
    assert _bots(stack) == sorted([WEEKLY, WEEKLY, WEEKLY, SINGLE])
