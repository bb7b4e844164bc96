"""The deployments of prefect.yaml, run by a real worker against a real Prefect server."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING
from uuid import UUID

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import arun_deployment

if TYPE_CHECKING:
    from conftest import Stack  # tests/e2e/conftest.py: the session's running deployment

pytestmark = [
    pytest.mark.e2e,
    # Prefect 3.8.8's client leaves a pooled keep-alive connection to the API unclosed
    # when (a)run_deployment returns; it is Prefect's socket, not one the test opened.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

RUN_TIMEOUT = 90


@pytest.fixture(autouse=True, scope="module")
def _collect_prefect_leftovers() -> Iterator[None]:
    """Finalize Prefect's leftover connections here, under this module's warning filter,
    rather than in whichever later test the garbage collector happens to run in."""
    yield
    gc.collect()


def catalog(stack: Stack, table: str) -> pd.DataFrame:
    return pd.read_parquet(stack.catalog_root / table)


def assert_completed(run: FlowRun, stack: Stack) -> None:
    assert run.state is not None
    assert run.state.is_completed(), f"{run.name}: {run.state}\n{stack.tail()}"


async def test_the_ui_form_parameters_capture_one_meeting_into_the_catalog(stack: Stack) -> None:
    # Exactly what the UI form sends: the MeetingRequest fields as one "request" object.
    request = {
        "meeting_link": stack.meeting,
        "bot_name": "E2E Recorder",
        "request_id": "e2e-single",
    }

    async with get_client() as client:  # our client, closed here: no pooled socket leaks
        run = await arun_deployment(
            "capture-meeting/capture-meeting",
            client=client,
            parameters={"request": request},
            timeout=RUN_TIMEOUT,
        )

    assert isinstance(run, FlowRun)
    assert_completed(run, stack)
    bots = catalog(stack, "bots")
    mine = bots[bots.bot_name == "E2E Recorder"]
    assert len(mine) == 1
    assert mine.outcome.iloc[0] == "captured"
    assert "pwd" not in mine.meeting_link_redacted.iloc[0]
    bot_id = mine.bot_id.iloc[0]
    people = catalog(stack, "participants")
    assert sorted(people[people.bot_id == bot_id].participant_name) == [
        "Ana Souza",
        "Ben Carter",
        "Chen Wei",
    ]
    media = catalog(stack, "media")
    audio = media[(media.bot_id == bot_id) & (media.kind == "audio")]
    assert len(audio) >= 3
    assert all((stack.media_root / key).exists() for key in audio.key)


async def test_the_scheduled_deployment_carries_its_schedule(stack: Stack) -> None:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("capture-scheduled/capture-scheduled")
        nightly = await client.read_deployment_by_name("compact-catalog/compact-catalog")

    assert [s.schedule.cron for s in deployment.schedules] == ["*/15 * * * *"]  # type: ignore[union-attr]
    assert all(s.active for s in deployment.schedules)
    assert deployment.parameters["window_minutes"] == 15
    assert deployment.parameters["meetings_url"] == str(stack.work_dir / "meetings.csv")
    assert deployment.work_pool_name == "meetstream"
    assert [s.schedule.cron for s in nightly.schedules] == ["30 2 * * *"]  # type: ignore[union-attr]


async def test_the_single_meeting_deployment_exposes_the_request_form(stack: Stack) -> None:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("capture-meeting/capture-meeting")

    schema = deployment.parameter_openapi_schema
    assert schema["required"] == ["request"]
    form = schema["definitions"]["MeetingRequest"]["properties"]
    assert form["meeting_link"]["description"]
    assert {"bot_name", "join_at", "custom_attributes"} <= set(form)


async def test_a_scheduled_run_with_fan_out_starts_one_capture_run_per_due_meeting(
    stack: Stack,
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    listed = [
        (stack.fanout[0], "Fan A", now),
        (stack.fanout[1], "Fan B", now + dt.timedelta(minutes=3)),
        ("https://zoom.us/j/999", "Later", now + dt.timedelta(hours=3)),  # outside the window
    ]
    rows = [{"meeting_link": m, "bot_name": b, "join_at": t.isoformat()} for m, b, t in listed]
    meetings = stack.work_dir / "fanout.csv"
    pd.DataFrame(rows).to_csv(meetings, index=False)

    async with get_client() as client:
        parent = await arun_deployment(
            "capture-scheduled/capture-scheduled",
            client=client,
            parameters={
                "meetings_url": str(meetings),
                "window_minutes": 15,
                "fan_out": True,
                "now": (now - dt.timedelta(minutes=1)).isoformat(),
            },
            timeout=RUN_TIMEOUT,
        )
    assert isinstance(parent, FlowRun)
    assert_completed(parent, stack)

    children = await _wait_for_children(parent.id, expected=2)

    for child in children:
        assert_completed(child, stack)
    bots = catalog(stack, "bots")
    assert {"Fan A", "Fan B"} <= set(bots.bot_name)
    assert "Later" not in set(bots.bot_name)


async def _wait_for_children(parent_id: UUID, expected: int) -> list[FlowRun]:
    """The capture-meeting runs the fan-out created, once they are all final."""
    deadline = time.monotonic() + RUN_TIMEOUT
    async with get_client() as client:
        while True:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])
                )
            )
            final = [r for r in runs if r.state is not None and r.state.is_final()]
            if len(runs) >= expected and len(final) == len(runs):
                return runs
            if time.monotonic() > deadline:
                raise AssertionError(f"fan-out runs not final in time: {runs}")
            await asyncio.sleep(1)
