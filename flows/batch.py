"""The scheduled batch: capture the meetings of a list whose join time is in the next window.

By default the due meetings run concurrently inside this one flow run (cheap: one process
holds hundreds of waiting meetings). With `fan_out=True` they become runs of their own, so
several workers on the pool share the load: one `capture-meeting` run per meeting (the
default, one run to look at per meeting in the UI), or, with `meetings_per_run` > 1,
`capture-meetings` runs of that many meetings each. A run costs a process (~4 s of CPU on
this project's 2-core CI machine, docs/benchmarks.md), so a fleet of hundreds of meetings
fans out in chunks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.blocks.system import Secret
from prefect.deployments import arun_deployment
from prefect.runtime import flow_run
from pydantic import BaseModel

import tasks
from flows.capture import capture_meetings
from flows.form import titled
from flows.meeting import artifact_caption, artifact_rows
from meetstream_catalog.job import CaptureResult
from meetstream_catalog.request import (
    MeetingRequest,
    as_utc,
    idempotency_key,
    meeting_list,
    sources,
)
from meetstream_catalog.request.calendar import CalendarRules
from meetstream_catalog.request.meeting import OptionalTime
from meetstream_catalog.roots import Root
from tasks.settings import LINK_SECRET
from tasks.settings import meetings_url as meetings_url_setting

SINGLE_MEETING_DEPLOYMENT = "capture-meeting/capture-meeting"
MEETINGS_DEPLOYMENT = "capture-meetings/capture-meetings"


class SubmittedRun(BaseModel):
    """A meeting the fan-out handed to a run of its own: the run to look at."""

    meeting: str  # the meeting's address, never its passcode
    flow_run: str
    flow_run_id: str


@flow(name="capture-scheduled")
async def capture_scheduled(
    meetings_url: Annotated[str, titled("Meeting list (empty: the worker's)")] = "",
    window_minutes: Annotated[int, titled("Window (minutes)")] = 15,
    fan_out: Annotated[bool, titled("One run per meeting")] = False,
    concurrency: Annotated[int, titled("Meetings at once")] = 50,
    meetings_per_run: Annotated[int, titled("Meetings per run (fan-out)")] = 1,
    now: Annotated[OptionalTime, titled("Window start (empty: the scheduled time)")] = None,
) -> list[CaptureResult] | list[SubmittedRun]:
    """Capture every listed meeting whose join time falls in the next window.

    The list is a table (CSV, JSON, Parquet) or an iCalendar feed, whose recurring events
    are expanded over the window (`meetstream_catalog.request.sources`). `meetings_url`
    defaults to the worker's MEETSTREAM_MEETINGS_URL (or the Secret block
    `meetstream-meetings-url`: a calendar's address is a credential); `now` to the run's
    scheduled start time (a late run must not leave a gap between consecutive windows).
    With `fan_out`, the meetings are submitted as runs of their own, `meetings_per_run`
    meetings per run, for the pool's workers to share.
    """
    if meetings_per_run < 1:
        raise ValueError(f"meetings_per_run must be at least 1, not {meetings_per_run}")
    logger = get_run_logger()
    settings = (await tasks.load_settings()).settings
    url = meetings_url or await meetings_url_setting(settings)
    if not url:
        raise meeting_list.MeetingListError(
            "No meeting list: set MEETSTREAM_MEETINGS_URL on the worker (a calendar feed's "
            "secret address: the Secret block 'meetstream-meetings-url'), or the "
            f"deployment's meetings_url parameter. {meeting_list.COLUMNS_HELP}"
        )
    start = as_utc(now or flow_run.get_scheduled_start_time() or dt.datetime.now(dt.UTC))
    end = start + dt.timedelta(minutes=window_minutes)
    listing = await asyncio.to_thread(
        sources.meetings_between,
        url,
        start=start,
        end=end,
        rules=CalendarRules.of(settings),
        storage_options=Root.at(url, s3_endpoint_url=settings.s3_endpoint_url).options,
    )
    due = listing.requests
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(listing.skipped.items()))
    logger.info(
        "%d of %d listed meetings join between %s and %s%s",
        len(due),
        listing.listed,
        start.strftime("%H:%M"),
        end.strftime("%H:%M UTC"),
        f" (skipped: {skipped})" if skipped else "",
    )
    if not due:
        return []
    if not fan_out:
        results = await capture_meetings(due, concurrency=concurrency)
        # On the scheduled run's own page too (the meetings ran in its subflow).
        await acreate_table_artifact(
            table=artifact_rows(results),
            key="scheduled-capture",
            description=artifact_caption(results),
        )
        return results
    chunks = [due[i : i + meetings_per_run] for i in range(0, len(due), meetings_per_run)]
    runs = [row for chunk in chunks for row in await _submit(chunk, concurrency)]
    await acreate_table_artifact(
        table=[run.model_dump() for run in runs],
        key="fan-out",
        description=f"{len(runs)} meeting(s) submitted in {len(chunks)} run(s).",
    )
    return runs


async def _submit(chunk: list[MeetingRequest], concurrency: int) -> list[SubmittedRun]:
    """Start one run for these meetings: of the single-meeting deployment for one, of the
    many-meetings deployment for more.

    A passcode never becomes a parameter: each full link goes into a Prefect Secret block
    (encrypted at rest) that the meeting's request names in `link_secret`.
    """
    scope = str(flow_run.get_id())
    keys = [idempotency_key(request, run_scope=scope) for request in chunk]
    requests = [await _hide_link(r, key) for r, key in zip(chunk, keys, strict=True)]
    as_json = [r.model_dump(mode="json") for r in requests]
    parameters: dict[str, object]
    if len(requests) == 1:
        deployment, parameters = SINGLE_MEETING_DEPLOYMENT, {"request": as_json[0]}
    else:
        deployment = MEETINGS_DEPLOYMENT
        parameters = {"requests": as_json, "concurrency": concurrency}
    run = await arun_deployment(
        deployment,
        parameters=parameters,
        timeout=0,  # do not wait: the meetings run on whichever worker picks them up
        # A retried batch run submits each chunk once.
        idempotency_key=keys[0] if len(keys) == 1 else _digest(keys),
    )
    return [
        SubmittedRun(meeting=r.meeting_link, flow_run=run.name, flow_run_id=str(run.id))
        for r in requests
    ]


async def _hide_link(request: MeetingRequest, key: str) -> MeetingRequest:
    if request.full_link is None:
        return request
    name = LINK_SECRET.format(key=key)
    await Secret(value=request.full_link).asave(name, overwrite=True)
    return request.model_copy(update={"link_secret": name})


def _digest(keys: list[str]) -> str:
    return hashlib.sha256("+".join(keys).encode()).hexdigest()
