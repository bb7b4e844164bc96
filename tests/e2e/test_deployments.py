"""The deployments of prefect.yaml, run by a real worker against a real Prefect server."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx
import pandas as pd
import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments import arun_deployment
from prefect.exceptions import PrefectHTTPStatusError

from meetstream_catalog.catalog import read_table

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
    return read_table(table, str(stack.catalog_root))


def assert_completed(run: FlowRun, stack: Stack) -> None:
    assert run.state is not None
    assert run.state.is_completed(), f"{run.name}: {run.state}\n{stack.tail()}"


async def test_the_ui_form_parameters_capture_one_meeting_into_the_catalog(stack: Stack) -> None:
    # Exactly what the UI form sends: the MeetingRequest fields as one "request" object,
    # the passcode kept in a Secret block that the form names.
    address, passcode = stack.meeting.split("?", 1)
    await Secret(value=stack.meeting).asave("e2e-meeting-link", overwrite=True)
    request = {
        "meeting_link": address,
        "link_secret": "e2e-meeting-link",
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
        stored = await client.read_flow_run(run.id)
        logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))

    assert_completed(run, stack)
    # Read back through the Prefect API: no passcode in parameters, name or logs.
    assert passcode not in json.dumps(stored.parameters)
    assert passcode not in stored.name
    assert stored.name == "zoom 5550001111 · E2E Recorder · now"
    assert logs
    assert all(passcode not in log.message for log in logs)
    assert any("created for https://zoom.us/j/5550001111" in log.message for log in logs)
    # ... while the bot itself was sent to the full link.
    assert stack.meeting in {b["meeting_url"] for b in simulator_bots(stack)}
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


async def test_a_link_with_a_passcode_is_refused_by_the_server_before_it_is_stored(
    stack: Stack,
) -> None:
    async with get_client() as client:
        with pytest.raises(PrefectHTTPStatusError, match=r"meeting_link holds a passcode") as e:
            await arun_deployment(
                "capture-meeting/capture-meeting",
                client=client,
                parameters={"request": {"meeting_link": stack.meeting}},
                timeout=0,
            )
        deployment = await client.read_deployment_by_name("capture-meeting/capture-meeting")
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        )
    assert all("e2e-secret" not in json.dumps(r.parameters) for r in runs)
    assert "e2e-secret" not in str(e.value)  # the refusal names the field, not the value


async def test_the_scheduler_creates_runs_and_a_worker_captures_the_due_meeting(
    stack: Stack,
) -> None:
    """The user's path: nobody triggers a run and no run gets a `now` parameter.

    The schedule from prefect.yaml (every 15 minutes) makes the server's scheduler create
    runs; to not wait up to 15 minutes for one to become due, the schedule is then changed
    to every minute through the Prefect API (as a user would in the UI), and the worker
    executes whichever run the scheduler created, with its scheduled start time.
    """
    written = dt.datetime.now(dt.UTC)
    soon = written + dt.timedelta(seconds=90)
    later = soon + dt.timedelta(hours=3)
    rows = [
        {"meeting_link": stack.scheduled, "bot_name": "Scheduled", "join_at": soon.isoformat()},
        {"meeting_link": "https://zoom.us/j/9", "bot_name": "Later", "join_at": later.isoformat()},
    ]
    pd.DataFrame(rows).to_csv(stack.meetings, index=False)

    async with get_client() as client:
        deployment = await client.read_deployment_by_name("capture-scheduled/capture-scheduled")
        by_deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        # The scheduler's runs only: other tests start runs of this deployment by hand.
        quarter = await _wait_for_runs(client, by_deployment, lambda r: bool(r.auto_scheduled))
        assert {r.expected_start_time.minute % 15 for r in quarter} == {0}  # type: ignore[union-attr]
        assert all(r.expected_start_time.second == 0 for r in quarter)  # type: ignore[union-attr]

        [schedule] = await client.read_deployment_schedules(deployment.id)
        await client.update_deployment_schedule(
            deployment.id, schedule.id, schedule=CronSchedule(cron="* * * * *", timezone="UTC")
        )
        try:
            # A quarter-hour run due while earlier tests ran found no meeting list yet (it
            # failed); the runs that count are the scheduler's from now on.
            def counts(r: FlowRun) -> bool:
                due = r.expected_start_time
                finished = r.state is not None and r.state.is_final()
                return bool(r.auto_scheduled) and due is not None and due >= written and finished

            done = await _wait_for_runs(
                client, by_deployment, counts, within_seconds=RUN_TIMEOUT + 90
            )
        finally:  # back to the schedule of prefect.yaml
            await client.update_deployment_schedule(
                deployment.id,
                schedule.id,
                schedule=CronSchedule(cron="*/15 * * * *", timezone="UTC"),
            )

    run = done[0]
    assert_completed(run, stack)
    assert run.auto_scheduled
    assert "now" not in run.parameters
    assert "scheduled-secret" not in json.dumps(run.parameters)
    bots = catalog(stack, "bots")
    mine = bots[bots.bot_name == "Scheduled"]
    assert mine.outcome.tolist() == ["captured"]
    assert "Later" not in set(bots.bot_name)
    assert stack.scheduled in {b["meeting_url"] for b in simulator_bots(stack)}
    # The page of the scheduled run that captured it has the table (its meetings ran in a
    # subflow); a run with no meeting due has none.
    [(caption, rows)] = [a for r in done for a in await run_artifacts(r.id, "scheduled-capture")]
    assert [(row["meeting"], row["outcome"]) for row in rows] == [
        (stack.scheduled.split("?")[0], "captured")
    ]
    assert caption.startswith("1 meeting(s): 1 captured.")


async def _wait_for_runs(
    client: PrefectClient,
    by_deployment: DeploymentFilter,
    keep: Callable[[FlowRun], bool],
    within_seconds: float = 60,
) -> list[FlowRun]:
    deadline = time.monotonic() + within_seconds
    while True:
        runs = [r for r in await client.read_flow_runs(deployment_filter=by_deployment) if keep(r)]
        if runs:
            return runs
        if time.monotonic() > deadline:
            raise AssertionError("no matching run of the scheduled deployment in time")
        await asyncio.sleep(1)


async def run_artifacts(run_id: UUID, key: str) -> list[tuple[str, Any]]:
    """(description, table rows) of the run's artifacts of this key."""
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return [
        (a.description or "", json.loads(a.data) if isinstance(a.data, str) else a.data)
        for a in found
        if a.key == key
    ]


def simulator_bots(stack: Stack) -> list[dict[str, Any]]:
    admin = stack.simulator_url.removesuffix("/api/v1") + "/_simulator/bots"
    bots: list[dict[str, Any]] = httpx.get(admin, timeout=10).json()["bots"]
    return bots


async def test_the_scheduled_deployment_carries_its_schedule(stack: Stack) -> None:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("capture-scheduled/capture-scheduled")
        nightly = await client.read_deployment_by_name("maintain-catalog/maintain-catalog-nightly")

    assert [s.schedule.cron for s in deployment.schedules] == ["*/15 * * * *"]  # type: ignore[union-attr]
    assert all(s.active for s in deployment.schedules)
    assert deployment.parameters == {"window_minutes": 15, "fan_out": False}
    assert deployment.work_pool_name == "meetstream"
    assert [s.schedule.cron for s in nightly.schedules] == ["30 2 * * *"]  # type: ignore[union-attr]


async def test_the_single_meeting_deployment_exposes_the_request_form(stack: Stack) -> None:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("capture-meeting/capture-meeting")

    schema = deployment.parameter_openapi_schema
    assert schema["required"] == ["request"]
    form = schema["definitions"]["MeetingRequest"]["properties"]
    assert form["meeting_link"]["description"]
    rules = json.dumps(schema["definitions"]["MeetingRequest"]["allOf"])
    assert "meeting_link holds a passcode" in rules
    assert {"bot_name", "join_at", "custom_attributes", "link_secret"} <= set(form)
    assert "full_link" not in form
    assert set(schema["properties"]) == {"request", "new_bot", "mode"}  # no storage roots


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
    # The scheduled run's own page lists each due meeting with the child run it went to.
    [(_, submitted)] = await run_artifacts(parent.id, "fan-out")
    assert sorted(row["meeting"] for row in submitted) == sorted(stack.fanout)
    assert {row["flow_run_id"] for row in submitted} == {str(c.id) for c in children}
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
