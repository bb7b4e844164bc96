"""Capture flows: one meeting, and many meetings in one process.

Wiring only: each step is a task from `tasks/`. Every flow reads its settings once (or takes
the ones the CLI already read and checked), builds each meeting's `CaptureJob` once, checks
them before any bot is created (`meetstream_catalog.request.preflight`), opens the run's
clients once and passes them to every step, and runs `flows.meeting.run_meeting` per
meeting, which turns
any failure of one meeting into a catalogued outcome, so one meeting's failure never stops
the others. Flows are async because hundreds of meetings waiting on their bots must be
cheap in one worker process.
"""

from __future__ import annotations

import asyncio
import contextlib

from prefect import flow
from prefect.runtime import flow_run

import tasks
from flows.meeting import (
    CaptureFailedError,
    capture_in_batch,
    preflight_once,
    raise_if_failed,
    run_meeting,
    write_artifacts,
)
from meetstream_catalog.catalog import pending
from meetstream_catalog.job import CaptureJob, CaptureMode, CaptureResult
from meetstream_catalog.meetstream.http import Clients, open_clients
from meetstream_catalog.request import MeetingRequest, idempotency_key
from meetstream_catalog.settings import Settings
from tasks.settings import RunSettings

__all__ = ["CaptureFailedError", "capture_meeting", "capture_meetings"]


def _meeting_run_name() -> str:
    request = flow_run.get_parameters().get("request")
    if isinstance(request, MeetingRequest):
        return request.run_name()
    if isinstance(request, dict):
        with contextlib.suppress(ValueError):
            return MeetingRequest.model_validate(request).run_name()
    return "meeting"


@flow(name="capture-meeting", flow_run_name=_meeting_run_name)
async def capture_meeting(
    request: MeetingRequest, new_bot: bool = False, mode: CaptureMode = "auto"
) -> CaptureResult:
    """Send a recorder into one meeting, wait until it leaves, archive everyone's audio and
    video into your storage and add the meeting to the catalog. In webhook mode the run
    ends once the recorder is in; the receiver's event collects it when the meeting ends.

    A meeting that already has a recorder in progress (recorded by an earlier run that
    crashed or was interrupted) is not sent a second one: this run resumes that bot,
    unless `new_bot` is set.

    Args:
        request: The meeting, and how to record it.
        new_bot: Send another recorder even if one is already recording this meeting.
        mode: "wait" keeps this run going until the meeting is archived; "webhook" ends it
            once the recorder is in, and the webhook receiver starts the archiving when the
            meeting ends; "auto" picks webhook when a receiver is configured.
    """
    run = await tasks.load_settings()
    callback = _callback_url(mode, run.settings)
    full = await tasks.resolve_link(request)
    await preflight_once(run, full)
    active = None if new_bot else await _bot_in_progress(run, full.meeting_link)
    key = active.key if active and active.key else None
    job = _request_job(full, run, key=key, callback_url=callback)
    async with open_clients(run.settings) as clients:
        result = await run_meeting(job, clients, bot_id=active.bot_id if active else None)
    await write_artifacts([result], job.catalog_root, key="meeting-capture")
    return raise_if_failed(result)


@flow(name="capture-meetings")
async def capture_meetings(
    requests: list[MeetingRequest], concurrency: int = 50, mode: CaptureMode = "auto"
) -> list[CaptureResult]:
    """Capture many meetings concurrently in this flow run (at most `concurrency` at once)."""
    run = await tasks.load_settings()
    callback = _callback_url(mode, run.settings)
    full = [await tasks.resolve_link(r) for r in requests]
    jobs = [_request_job(r, run, callback_url=callback) for r in full]
    if not jobs:
        return []
    await preflight_once(run, None)
    gate = asyncio.Semaphore(concurrency)

    async def one(job: CaptureJob, clients: Clients) -> CaptureResult:
        async with gate:
            return await capture_in_batch(job, clients)

    async with open_clients(run.settings) as clients:
        results = list(await asyncio.gather(*(one(j, clients) for j in jobs)))
    await write_artifacts(results, jobs[0].catalog_root, key="capture-summary")
    return results


def _callback_url(mode: CaptureMode, settings: Settings) -> str | None:
    """The receiver's URL in webhook mode (auto: when one is configured), else None."""
    if mode == "wait" or (mode == "auto" and not settings.webhook_url):
        return None
    if not settings.webhook_url:
        raise CaptureFailedError(
            "webhook mode needs the receiver's public URL: set MEETSTREAM_WEBHOOK_URL "
            "(see docs/deploy.md, 'Webhooks'), or use mode 'wait'"
        )
    return settings.webhook_url


def _request_job(
    request: MeetingRequest,
    run: RunSettings,
    *,
    key: str | None = None,
    callback_url: str | None = None,
) -> CaptureJob:
    """The job for a meeting to capture: roots are operator settings, never run parameters."""
    run_id = str(flow_run.get_id())
    return CaptureJob.for_request(
        request,
        key=key or idempotency_key(request, run_scope=run_id),
        settings=run.settings,
        media_root=run.media,
        catalog_root=run.catalog,
        run_id=run_id,
        callback_url=callback_url,
    )


async def _bot_in_progress(run: RunSettings, link: str) -> pending.PendingBot | None:
    """The bot an earlier run left recording this meeting, if it is inside its deadline."""
    active = await asyncio.to_thread(pending.active_for, link, run.catalog)
    if active is None:
        return None
    until = f"{active.expected_end_at:%H:%M} UTC" if active.expected_end_at else "unknown"
    tasks.progress(
        "Bot %s is already recording %s (expected end %s): resuming it instead of sending "
        "a second bot (--new-bot sends another)",
        active.bot_id,
        link,
        until,
        bot_id=active.bot_id,
    )
    return active
