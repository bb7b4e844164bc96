"""Prefect tasks: thin wrappers over `tasks.capture`, one per meeting step.

Each task takes the run's `CaptureJob`, calls one plain function with the process's
shared HTTP clients (`tasks.meetstream.http`) and returns typed data without presigned
URLs. One task per step, never one per poll: a task run costs milliseconds, so polling
loops live inside the wait task. No task caches: results are not persisted, so hashing
inputs is pure cost.

Progress: each step logs what a person waiting wants to know (the bot id as soon as it
exists, status changes with elapsed time and deadline, files archived of total, the
outcome) to the run log, so the UI shows it, and to the `meetstream.progress` logger, which
the terminal view of the CLI prints (`cli.console`).

Retries: none here. Transient failures are retried in one place, the client's time-budgeted
policy (`tasks.meetstream.transport.RetryPolicy`, also used by the media download); a Prefect task
retry on top would repeat each call up to budget x retries and restart a wait's deadline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import cast

from prefect import get_run_logger, task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from tasks import capture, retention
from tasks.capture import Archived
from tasks.job import BotLeft, CaptureJob, CaptureResult
from tasks.meetstream.client import MeetStreamClient
from tasks.meetstream.errors import MeetStreamError, redact
from tasks.meetstream.http import shared_http
from tasks.meetstream.models import BotState, BotStatus
from tasks.request import MeetingRequest, leave_deadline_seconds
from tasks.settings import Settings

SECRET_BLOCK = "meetstream-api-key"  # noqa: S105 - a block name, not a secret


async def load_settings() -> Settings:
    """Settings from the environment; the API key may instead come from a Secret block."""
    settings = Settings()
    if settings.api_key is None:
        try:
            secret = cast("Secret[str]", await Secret.aload(SECRET_BLOCK))
        except ValueError:  # no such block: the error at first use says what to set
            return settings
        value: object = secret.get()
        settings = settings.model_copy(update={"api_key": SecretStr(str(value))})
    return settings


async def resolve_link(request: MeetingRequest) -> MeetingRequest:
    """The request with its full link loaded from its `link_secret` block, if it names one."""
    if not request.link_secret or request.full_link is not None:
        return request
    try:
        block = cast("Secret[str]", await Secret.aload(request.link_secret))
    except ValueError as exc:
        raise ValueError(
            f"No Secret block named {request.link_secret!r}: create it (Blocks -> Secret) "
            "with the full meeting link as its value, or clear the field"
        ) from exc
    full = MeetingRequest.from_link(
        str(block.get()), **request.model_dump(exclude={"meeting_link"})
    )
    if full.meeting_link != request.meeting_link:
        raise ValueError(
            f"The link in Secret block {request.link_secret!r} is for another meeting than "
            f"{request.meeting_link}"
        )
    return full


# The same facts on a plain logger of our own, which Prefect's logging configuration never
# touches (its re-configuration replaces the handlers of the loggers it names): the CLI's
# terminal view listens here.
PROGRESS = logging.getLogger("meetstream.progress")


# Set for the meetings of a many-meeting run (`flows.capture.capture_in_batch`): their
# intermediate facts (each status change, archive progress) stay out of the run log, whose
# every line the API server records: 1,000 meetings x ~5 such lines. Milestones (bot
# created, left, archived, catalogued) are always logged; the terminal view gets all.
IN_BATCH: ContextVar[bool] = ContextVar("meetstream_in_batch", default=False)


def progress(message: str, *args: object, bot_id: str | None = None, detail: bool = False) -> None:
    """Log one progress fact to the run log (and the terminal of `meetstream-catalog`);
    a `detail` of a meeting in a batch goes to the run log at DEBUG only."""
    level = logging.DEBUG if detail and IN_BATCH.get() else logging.INFO
    get_run_logger().log(level, message, *args)
    PROGRESS.info(message, *args, extra={"bot_id": bot_id})


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@asynccontextmanager
async def meetstream(settings: Settings) -> AsyncIterator[MeetStreamClient]:
    """A client of the API over this process's shared connection pool."""
    settings.require_api_key()
    async with shared_http(settings) as http:
        yield MeetStreamClient(settings=settings, http=http.api)


@task(name="create-bot", cache_policy=NO_CACHE)
async def create_bot(job: CaptureJob) -> str:
    """Create (or replay) the bot, then record it as `in_progress` before any wait."""
    async with meetstream(job.settings) as client:
        created = await capture.create_bot(
            client, job.request, job.key, callback_url=job.callback_url
        )
    bot_id = str(created["bot_id"])
    progress(
        "Bot %s %s for %s (%s); if this run stops, resume with: meetstream-catalog collect %s",
        bot_id,
        "reused" if created["replayed"] else "created",
        job.request.meeting_link,
        job.request.run_name(),
        bot_id,
        bot_id=bot_id,
    )
    deadline = dt.timedelta(seconds=leave_deadline_seconds(job.request))
    expected_end = dt.datetime.now(dt.UTC) + deadline
    try:
        await asyncio.to_thread(capture.catalogue_in_progress, job, bot_id, expected_end)
    except Exception as exc:  # noqa: BLE001 - the bot exists: losing its id is worse
        get_run_logger().warning(
            "Bot %s: could not record it as in progress (%s); the capture goes on",
            bot_id,
            redact(str(exc)),
        )
    return bot_id


@task(name="wait-until-left", cache_policy=NO_CACHE)
async def wait_until_left(job: CaptureJob, bot_id: str, *, existing: bool = False) -> BotLeft:
    """Poll the bot's status until it left. For a bot that existed before this run
    (collect, webhook-triggered collection) its detail is asked first: a bot that already
    left costs no status poll at all."""
    deadline_seconds = leave_deadline_seconds(job.request)
    started = time.monotonic()

    def changed(status: BotStatus) -> None:
        elapsed = time.monotonic() - started
        progress(
            "Bot %s: %s (%s elapsed, gives up in %s)",
            bot_id,
            status.status or "status unknown",
            _duration(elapsed),
            _duration(max(0.0, deadline_seconds - elapsed)),
            bot_id=bot_id,
            detail=True,
        )

    settings = job.settings
    async with meetstream(settings) as client:
        detail = await client.get_detail(bot_id) if existing else None
        if detail is None or not BotState.parse(detail.status).has_left:
            await client.wait_until_left(
                bot_id,
                timeout=deadline_seconds,
                initial_interval=settings.poll_interval_seconds,
                max_interval=settings.poll_max_interval_seconds,
                on_status=changed,
            )
            detail = await client.get_detail(bot_id)
    final = BotState.parse(detail.status)
    state = detail.exit_state() if final is BotState.DONE else final
    progress("Bot %s left the meeting: %s", bot_id, state.value, bot_id=bot_id)
    return BotLeft(
        state=state,
        platform=detail.platform,
        meeting_link=detail.meeting_link,
        bot_name=detail.bot_name,
        left_at=dt.datetime.now(dt.UTC),
    )


@task(name="archive-media", cache_policy=NO_CACHE)
async def archive_media(job: CaptureJob, bot_id: str, state: BotState) -> Archived:
    """Collect both manifests and copy every file; returns them without URLs."""
    async with meetstream(job.settings) as client, shared_http(job.settings) as http:
        archived = await capture.collect(
            client,
            http.media,  # presigned URLs: never the API client with its Token header
            bot_id,
            state,
            media_root=job.media_root,
            catalog_root=job.catalog_root,
            settings=job.settings,
            on_progress=_ArchiveProgress(bot_id),
        )
    for line in archived.missing:
        get_run_logger().warning("Bot %s: not archived: %s", bot_id, line)
    return archived


class _ArchiveProgress:
    """Reports files archived of total, at most every few seconds (and the last file)."""

    EVERY_SECONDS = 5.0

    def __init__(self, bot_id: str) -> None:
        self.bot_id = bot_id
        self.last = 0.0

    def __call__(self, files: int, total: int, size: int) -> None:
        now = time.monotonic()
        if files < total and now - self.last < self.EVERY_SECONDS:
            return
        self.last = now
        progress(
            "Bot %s: archived %d of %d files (%.1f MB)",
            self.bot_id,
            files,
            total,
            size / 1e6,
            bot_id=self.bot_id,
            detail=files < total,
        )


@task(name="write-catalog", cache_policy=NO_CACHE)
async def write_catalog(
    job: CaptureJob, bot_id: str, left: BotLeft, archived: Archived
) -> CaptureResult:
    # Off the event loop, which holds every other waiting meeting of this process. Writers
    # need no lock: each commit to the catalog is atomic and retried on conflict.
    result = await asyncio.to_thread(capture.catalogue, job, bot_id, left, archived)
    progress(
        "Bot %s catalogued: %s, %s files, %s participants with audio%s",
        bot_id,
        result.outcome.value,
        result.media_files,
        result.audio_participants,
        f" ({result.reason})" if result.reason else "",
        bot_id=bot_id,
    )
    return result


@task(name="delete-at-source", cache_policy=NO_CACHE)
async def delete_at_source(job: CaptureJob, bot_id: str, archived: Archived) -> bool:
    """Delete the bot's data at MeetStream if every file is archived, verified and committed
    (`tasks.retention`). Never raises: the meeting is captured either way."""
    m = archived.manifests
    keys = retention.planned_keys(bot_id, m.audio, m.video, m.mixed, m.composite)
    try:
        async with meetstream(job.settings) as client:
            done = await retention.delete_if_archived(
                client, bot_id, keys, catalog_root=job.catalog_root, media_root=job.media_root,
                storage_options=job.settings.storage_options(),
                concurrency=job.settings.archive_concurrency,
            )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - a failed delete leaves the data, not the meeting
        done = retention.Deletion(False, f"{type(exc).__name__}: {redact(str(exc))}")
    if done.deleted and done.recorded:
        progress(
            "Bot %s: data deleted at MeetStream (%s objects)",
            bot_id,
            done.deleted_objects,
            bot_id=bot_id,
        )
    else:
        get_run_logger().warning(
            "Bot %s: %s at MeetStream: %s",
            bot_id,
            "data deleted" if done.deleted else "data kept",
            redact(done.reason),
        )
    return done.deleted


@task(name="check-pending-bots", cache_policy=NO_CACHE)
async def bots_that_left(settings: Settings, bot_ids: list[str]) -> list[str]:
    """Of these in-progress bots, the ones whose status says they have left the meeting."""
    gate = asyncio.Semaphore(20)

    async def left(client: MeetStreamClient, bot_id: str) -> bool:
        async with gate:
            try:
                return (await client.get_status(bot_id)).state.has_left
            except MeetStreamError as exc:  # unknown for now: the next reconciliation asks
                get_run_logger().warning("Bot %s: status unknown (%s)", bot_id, exc)
                return False

    async with meetstream(settings) as client:
        answers = await asyncio.gather(*(left(client, b) for b in bot_ids))
    return [b for b, gone in zip(bot_ids, answers, strict=True) if gone]


@task(name="record-failure", cache_policy=NO_CACHE)
async def record_failure(job: CaptureJob, bot_id: str, reason: str) -> bool:
    return await asyncio.to_thread(capture.catalogue_failure, job, bot_id, reason)
