"""The scheduled batch: capture the meetings of a list whose join time is in the next window.

By default the due meetings run concurrently inside this one flow run (cheap: one process
holds hundreds of waiting meetings). With `fan_out=True` each meeting becomes its own run
of the single-meeting deployment instead, so several workers on the pool share the load;
that costs a process per meeting, so it is the option, not the default.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.deployments import arun_deployment
from prefect.runtime import flow_run

from flows.capture import capture_meetings
from tasks import meeting_list, steps
from tasks.catalog import redact_meeting_link
from tasks.request import idempotency_key

SINGLE_MEETING_DEPLOYMENT = "capture-meeting/capture-meeting"


@flow(name="capture-scheduled")
async def capture_scheduled(
    meetings_url: str,
    window_minutes: int = 60,
    fan_out: bool = False,
    concurrency: int = 50,
    media_root: str | None = None,
    catalog_root: str | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Read the meeting list and capture every meeting due in [now, now + window)."""
    logger = get_run_logger()
    settings = await steps.load_settings()
    requests = meeting_list.read_meeting_list(
        meetings_url, storage_options=settings.storage_options()
    )
    # The scheduled time, not the actual start: a late run must not leave a gap between
    # consecutive windows in which a meeting's join time would fall unseen.
    start = now or flow_run.get_scheduled_start_time() or dt.datetime.now(dt.UTC)
    due = meeting_list.due(requests, now=start, window=dt.timedelta(minutes=window_minutes))
    logger.info(
        "%d of %d listed meetings are due in the next %d minutes",
        len(due),
        len(requests),
        window_minutes,
    )
    if not due:
        return []
    if not fan_out:
        return await capture_meetings(
            due, concurrency=concurrency, media_root=media_root, catalog_root=catalog_root
        )
    runs = []
    for request in due:
        run = await arun_deployment(
            SINGLE_MEETING_DEPLOYMENT,
            parameters={
                "request": request.model_dump(mode="json"),
                "media_root": media_root,
                "catalog_root": catalog_root,
            },
            timeout=0,  # do not wait: the meeting runs on whichever worker picks it up
            # a retried batch run submits each meeting once
            idempotency_key=idempotency_key(request, run_scope=str(flow_run.get_id())),
        )
        runs.append(
            {"meeting": redact_meeting_link(request.meeting_link), "flow_run_id": str(run.id)}
        )
    await acreate_table_artifact(
        table=runs, key="fan-out", description=f"{len(runs)} meeting run(s) submitted."
    )
    return runs
