"""Capture flows: one meeting, many meetings in one process, an existing bot, pending bots.

Wiring only: each step is a task from `tasks/`. Every flow reads its settings once (or takes
the ones the CLI already read and checked), builds each meeting's `CaptureJob` once, checks
them before any bot is created (`meetstream_catalog.request.preflight`), opens the run's
clients once and passes them to every step, and runs `_capture` per meeting, which turns
any failure of one meeting into a catalogued outcome, so one meeting's failure never stops
the others. Flows are async because hundreds of meetings waiting on their bots must be
cheap in one worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

import tasks
from meetstream_catalog.catalog import pending, report
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.job import CaptureJob, CaptureMode, CaptureResult, leave_deadline_seconds
from meetstream_catalog.meetstream.http import Clients, open_clients
from meetstream_catalog.redaction import redact
from meetstream_catalog.request import MeetingRequest, idempotency_key
from meetstream_catalog.request.preflight import PreflightError, preflight
from meetstream_catalog.settings import Settings, resolve_root
from tasks.settings import RunSettings

P = ParamSpec("P")
R = TypeVar("R")


class CaptureFailedError(RuntimeError):
    """The meeting could not be captured; the message says why and what to do."""


def _meeting_run_name() -> str:
    request = flow_run.get_parameters().get("request")
    if isinstance(request, MeetingRequest):
        return request.run_name()
    if isinstance(request, dict):
        with contextlib.suppress(ValueError):
            return MeetingRequest.model_validate(request).run_name()
    return "meeting"


def _collect_run_name() -> str:
    return f"collect · bot {flow_run.get_parameters().get('bot_id', '?')}"


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
    await _preflight(run, full)
    active = None if new_bot else await _bot_in_progress(run.settings, full.meeting_link)
    key = active.key if active and active.key else None
    job = _request_job(full, run.settings, key=key, callback_url=callback)
    async with open_clients(run.settings) as clients:
        result = await _capture(job, clients, bot_id=active.bot_id if active else None)
    await _artifacts([result], job.catalog_root, run.settings, key="meeting-capture")
    return _raise_if_failed(result)


@flow(name="capture-meetings")
async def capture_meetings(
    requests: list[MeetingRequest], concurrency: int = 50, mode: CaptureMode = "auto"
) -> list[CaptureResult]:
    """Capture many meetings concurrently in this flow run (at most `concurrency` at once)."""
    run = await tasks.load_settings()
    callback = _callback_url(mode, run.settings)
    full = [await tasks.resolve_link(r) for r in requests]
    jobs = [_request_job(r, run.settings, callback_url=callback) for r in full]
    if not jobs:
        return []
    await _preflight(run, None)
    gate = asyncio.Semaphore(concurrency)

    async def one(job: CaptureJob, clients: Clients) -> CaptureResult:
        async with gate:
            return await capture_in_batch(job, clients)

    async with open_clients(run.settings) as clients:
        results = list(await asyncio.gather(*(one(j, clients) for j in jobs)))
    await _artifacts(results, jobs[0].catalog_root, run.settings, key="capture-summary")
    return results


@flow(name="collect-bot", flow_run_name=_collect_run_name)
async def collect_bot(bot_id: str) -> CaptureResult:
    """Archive and catalogue a bot that already exists (created elsewhere, or by a capture
    that was interrupted) without creating one."""
    run = await tasks.load_settings()
    root, options = _catalog(run.settings)
    done = await asyncio.to_thread(pending.finished, bot_id, root, options)
    if done is not None:  # a duplicate trigger, or a collect of a finished bot
        get_run_logger().info("Bot %s is already catalogued (%s): nothing to do", bot_id, done)
        return CaptureResult(meeting="", bot_id=bot_id, outcome=Outcome(done))
    waiting = await asyncio.to_thread(pending.in_progress, root, options)
    known = {p.bot_id: p for p in waiting}.get(bot_id)
    await _preflight(run, None)
    # What the request said comes from the catalog's in-progress row, or (a bot created
    # elsewhere) from the bot's detail once it has left.
    job = _bot_job(known, run.settings)
    async with open_clients(run.settings) as clients:
        result = await _capture(job, clients, bot_id=bot_id)
    await _artifacts([result], job.catalog_root, run.settings, key="bot-collection")
    return _raise_if_failed(result)


@flow(name="collect-pending")
async def collect_pending(concurrency: int = 50) -> list[CaptureResult]:
    """Collect every bot recorded `in_progress` whose meeting should be over: the bots of
    runs that crashed or were interrupted (and of webhooks that never came)."""
    run = await tasks.load_settings()
    waiting = await asyncio.to_thread(pending.in_progress, *_catalog(run.settings))
    now = dt.datetime.now(dt.UTC)
    overdue = [p for p in waiting if p.overdue(now)]
    others = [p.bot_id for p in waiting if not p.overdue(now)]
    if not waiting:
        get_run_logger().info("0 in-progress bot(s): nothing to collect")
        return []
    await _preflight(run, None)
    async with open_clients(run.settings) as clients:
        # A lost webhook is never resent: ask MeetStream (one status call per bot) whether
        # the others have left, so they are collected now rather than at their expected end.
        left = set(await tasks.bots_that_left(clients, others)) if others else set()
        due = overdue + [p for p in waiting if p.bot_id in left]
        get_run_logger().info(
            "%d in-progress bot(s): %d past their expected end, %d left their meeting",
            len(waiting),
            len(overdue),
            len(left),
        )
        if not due:
            return []
        gate = asyncio.Semaphore(concurrency)

        async def one(bot: pending.PendingBot) -> CaptureResult:
            async with gate:
                return await capture_in_batch(_bot_job(bot, run.settings), clients, bot.bot_id)

        results = list(await asyncio.gather(*(one(p) for p in due)))
    root = resolve_root(run.settings.catalog_root)
    await _artifacts(results, root, run.settings, key="pending-collection")
    return results


def _catalog(settings: Settings) -> tuple[str, dict[str, object]]:
    return resolve_root(settings.catalog_root), settings.storage_options()


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
    settings: Settings,
    *,
    key: str | None = None,
    callback_url: str | None = None,
) -> CaptureJob:
    """The job for a meeting to capture: roots are operator settings, never run parameters."""
    run_id = str(flow_run.get_id())
    return CaptureJob.for_request(
        request,
        key=key or idempotency_key(request, run_scope=run_id),
        settings=settings,
        media_root=resolve_root(settings.media_root),
        catalog_root=resolve_root(settings.catalog_root),
        run_id=run_id,
        callback_url=callback_url,
    )


def _bot_job(known: pending.PendingBot | None, settings: Settings) -> CaptureJob:
    """The job for a bot that exists: what its in-progress row says, if it has one."""
    return CaptureJob(
        key=known.key if known else "",
        meeting_link=known.meeting_link if known else "",
        bot_name=known.bot_name if known else "",
        media_root=resolve_root(settings.media_root),
        catalog_root=resolve_root(settings.catalog_root),
        settings=settings,
        leave_deadline_seconds=leave_deadline_seconds(None),
        custom_attributes=known.custom_attributes if known else {},
        run_id=str(flow_run.get_id()),
    )


async def _preflight(run: RunSettings, request: MeetingRequest | None) -> None:
    """Refuse, before any bot is created, a capture that could not finish (once: not again
    when the CLI already checked)."""
    if run.checked:
        return
    settings = run.settings
    try:
        await preflight(
            settings,
            media_root=resolve_root(settings.media_root),
            catalog_root=resolve_root(settings.catalog_root),
            request=request,
        )
    except PreflightError as exc:
        raise CaptureFailedError(str(exc)) from None


async def _bot_in_progress(settings: Settings, link: str) -> pending.PendingBot | None:
    """The bot an earlier run left recording this meeting, if it is inside its deadline."""
    root, options = _catalog(settings)
    active = await asyncio.to_thread(pending.active_for, link, root, options)
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


@task(name="capture", task_run_name="capture {job.meeting_link}", cache_policy=NO_CACHE)
async def capture_in_batch(
    job: CaptureJob, clients: Clients, bot_id: str | None = None
) -> CaptureResult:
    """One meeting of a many-meeting run as ONE task run, its steps logged inside it.

    A task run costs ~3 ms in the flow process and ~20 ms in the API server to record
    (PREFECT-NOTES); four per meeting made Prefect's cost per meeting of a batch several
    times the 50 ms goal (docs/benchmarks.md, "Fleet"). A batch's UI still lists one task
    run per meeting, named by its link, with its state and the log of every stage.
    """
    token = tasks.IN_BATCH.set(True)
    try:
        return await _capture(job, clients, bot_id=bot_id, staged=False)
    finally:
        tasks.IN_BATCH.reset(token)


async def _capture(
    job: CaptureJob, clients: Clients, *, bot_id: str | None = None, staged: bool = True
) -> CaptureResult:
    """Run one meeting's steps; never raises: a failure becomes outcome 'failed'.

    `staged`: each step is a task run of its own (a one-meeting run's graph shows its
    stages); otherwise each step runs inside the caller's task run (`.fn`).
    """
    create_bot = _step(tasks.create_bot, staged)
    wait_until_left = _step(tasks.wait_until_left, staged)
    archive_media = _step(tasks.archive_media, staged)
    write_catalog = _step(tasks.write_catalog, staged)
    delete_at_source = _step(tasks.delete_at_source, staged)
    try:
        created = bot_id is None
        if bot_id is None:
            bot_id = await create_bot(job, clients)
        if job.callback_url is not None:  # webhook mode: the receiver takes it from here
            return CaptureResult(
                meeting=job.meeting_link, bot_id=bot_id, outcome=Outcome.IN_PROGRESS
            )
        left = await wait_until_left(job, clients, bot_id, existing=not created)
        archived = await archive_media(job, clients, bot_id, left.state)
        result = await write_catalog(job, bot_id, left, archived)
        if job.settings.delete_after_archive and result.outcome is Outcome.CAPTURED:
            await delete_at_source(job, clients, bot_id, archived)  # never raises
        return result
    except Exception as exc:  # noqa: BLE001 - one meeting's failure must not stop others
        reason = f"{type(exc).__name__}: {redact(str(exc))}"
        if bot_id is not None:
            reason += f"; resume with: meetstream-catalog collect {bot_id}"
        link = job.meeting_link
        get_run_logger().error("Capture of %s (bot %s) failed: %s", link, bot_id or "-", reason)
        if bot_id is not None:
            await _record_failure(job, bot_id, reason, staged=staged)
        return CaptureResult(meeting=link, bot_id=bot_id, outcome=Outcome.FAILED, reason=reason)


def _step(step: Task[P, R], staged: bool) -> Callable[P, R]:
    """The step as a task run of its own, or as a plain call inside the current run."""
    return step if staged else step.fn


async def _record_failure(job: CaptureJob, bot_id: str, reason: str, *, staged: bool) -> None:
    try:
        await _step(tasks.record_failure, staged)(job, bot_id, reason)
    except Exception as exc:  # noqa: BLE001 - the run already failed; say so, keep going
        get_run_logger().error("Could not catalogue the failure of bot %s: %s", bot_id, exc)


def _raise_if_failed(result: CaptureResult) -> CaptureResult:
    if result.outcome is Outcome.FAILED:
        raise CaptureFailedError(result.reason)
    return result


async def _artifacts(
    results: Sequence[CaptureResult], catalog_root: str, settings: Settings, *, key: str
) -> None:
    """A table of this run's meetings and a markdown summary of what it added to the catalog."""
    rows = [r.model_dump(mode="json") for r in results]
    failed = sum(r.outcome is Outcome.FAILED for r in results)
    await acreate_table_artifact(
        table=[{k: ("" if v is None else v) for k, v in row.items()} for row in rows],
        key=key,
        description=f"{len(results)} meeting(s), {failed} failed. No URLs or keys are shown.",
    )
    try:
        bots, people = await asyncio.to_thread(
            report.catalog_rows,
            catalog_root,
            [r.bot_id for r in results if r.bot_id],
            settings.storage_options(),
        )
        markdown = report.catalog_delta_markdown(rows, bots=bots, participants=people)
    except Exception as exc:  # noqa: BLE001 - a summary must never fail a finished capture
        get_run_logger().warning("Could not summarize the catalog delta: %s", redact(str(exc)))
        return
    await acreate_markdown_artifact(
        key="catalog-delta",
        markdown=markdown,
        description="What this run added to the catalog, and what went wrong.",
    )
