"""The scheduled batch: capture the meetings of a list whose join time is in the next window.

By default the due meetings run concurrently inside this one flow run (cheap: one process
holds hundreds of waiting meetings). With `fan_out=True` each meeting becomes its own run
of the single-meeting deployment instead, so several workers on the pool share the load;
that costs a process per meeting, so it is the option, not the default.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.blocks.system import Secret
from prefect.deployments import arun_deployment
from prefect.runtime import flow_run

from flows.capture import capture_meetings
from tasks import steps
from tasks.request import MeetingRequest, as_utc, idempotency_key, meeting_list

SINGLE_MEETING_DEPLOYMENT = "capture-meeting/capture-meeting"


@flow(name="capture-scheduled")
async def capture_scheduled(
    meetings_url: str | None = None,
    window_minutes: int = 15,
    fan_out: bool = False,
    concurrency: int = 50,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Capture every listed meeting whose join time falls in the next window.

    `meetings_url` defaults to the worker's MEETSTREAM_MEETINGS_URL; `now` to the run's
    scheduled start time (a late run must not leave a gap between consecutive windows).
    """
    logger = get_run_logger()
    settings = await steps.load_settings()
    url = meetings_url or settings.meetings_url
    if not url:
        raise meeting_list.MeetingListError(
            "No meeting list: set MEETSTREAM_MEETINGS_URL on the worker (or the "
            f"deployment's meetings_url parameter). {meeting_list.COLUMNS_HELP}"
        )
    requests = await asyncio.to_thread(
        meeting_list.read_meeting_list, url, storage_options=settings.storage_options()
    )
    start = as_utc(now or flow_run.get_scheduled_start_time() or dt.datetime.now(dt.UTC))
    due = meeting_list.due(requests, now=start, window=dt.timedelta(minutes=window_minutes))
    logger.info(
        "%d of %d listed meetings join between %s and %s",
        len(due),
        len(requests),
        start.strftime("%H:%M"),
        (start + dt.timedelta(minutes=window_minutes)).strftime("%H:%M UTC"),
    )
    if not due:
        return []
    if not fan_out:
        results = await capture_meetings(due, concurrency=concurrency)
        return [r.model_dump(mode="json") for r in results]
    runs = [await _submit(request) for request in due]
    await acreate_table_artifact(
        table=runs, key="fan-out", description=f"{len(runs)} meeting run(s) submitted."
    )
    return runs


async def _submit(request: MeetingRequest) -> dict[str, Any]:
    """Start one run of the single-meeting deployment for `request`.

    A passcode never becomes a parameter: the full link goes into a Prefect Secret block
    (encrypted at rest) that the run names in `link_secret`.
    """
    key = idempotency_key(request, run_scope=str(flow_run.get_id()))
    if request.full_link is not None:
        name = f"meetstream-link-{key}"
        await Secret(value=request.full_link).asave(name, overwrite=True)
        request = request.model_copy(update={"link_secret": name})
    run = await arun_deployment(
        SINGLE_MEETING_DEPLOYMENT,
        parameters={"request": request.model_dump(mode="json")},
        timeout=0,  # do not wait: the meeting runs on whichever worker picks it up
        idempotency_key=key,  # a retried batch run submits each meeting once
    )
    return {"meeting": request.meeting_link, "flow_run": run.name, "flow_run_id": str(run.id)}
