"""Prefect tasks: thin wrappers over `tasks.capture`, one per meeting step.

Each task builds what it needs from settings, calls one plain function and returns
serializable data without presigned URLs. One task per step, never one per poll: a task
run costs milliseconds, so polling loops live inside the wait task.

Progress: each step logs what a person waiting wants to know (the bot id as soon as it
exists, status changes with elapsed time and deadline, files archived of total, the
outcome) to the run log, so the UI shows it; these records carry `progress=True` in their
`extra`, which is how the terminal picks them out (see `flows.console`).

Retries: none here. Transient failures are retried in one place, the client's time-budgeted
policy (`tasks.transport.RetryPolicy`, also used by the media download); a Prefect task
retry on top would repeat each call up to budget x retries and restart a wait's deadline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
from prefect import get_run_logger, task
from prefect.blocks.system import Secret
from pydantic import SecretStr

from tasks import capture, catalog
from tasks.client import MeetStreamClient
from tasks.models import ArchivedMedia, BotState, BotStatus
from tasks.request import MeetingRequest
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


def progress(message: str, *args: object, bot_id: str | None = None) -> None:
    """Log one progress fact to the run log (and the terminal of `meetstream-catalog`)."""
    logger = get_run_logger()
    logger.info(message, *args, extra={"progress": True, "bot_id": bot_id})


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@asynccontextmanager
async def meetstream(settings: Settings) -> AsyncIterator[MeetStreamClient]:
    settings.require_api_key()
    async with MeetStreamClient(settings=settings) as client:
        yield client


@task(name="create-bot")
async def create_bot(request: MeetingRequest, key: str) -> dict[str, Any]:
    async with meetstream(await load_settings()) as client:
        created = await capture.create_bot(client, request, key)
    bot_id = str(created["bot_id"])
    progress(
        "Bot %s %s for %s (%s); if this run stops, resume with: meetstream-catalog collect %s",
        bot_id,
        "reused" if created["replayed"] else "created",
        request.meeting_link,
        request.run_name(),
        bot_id,
        bot_id=bot_id,
    )
    return created


@task(name="wait-until-left")
async def wait_until_left(bot_id: str, deadline_seconds: float) -> dict[str, Any]:
    settings = await load_settings()
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
        )

    async with meetstream(settings) as client:
        status = await client.wait_until_left(
            bot_id,
            timeout=deadline_seconds,
            initial_interval=settings.poll_interval_seconds,
            max_interval=settings.poll_max_interval_seconds,
            on_status=changed,
        )
        detail = await client.get_detail(bot_id)
    state = detail.exit_state() if status.state is BotState.DONE else status.state
    progress("Bot %s left the meeting: %s", bot_id, state.value, bot_id=bot_id)
    return {
        "state": state.value,
        "platform": detail.platform,
        "meeting_link": detail.meeting_link,
        "bot_name": detail.bot_name,
        "left_at": dt.datetime.now(dt.UTC),
    }


@task(name="archive-media")
async def archive_media(
    bot_id: str, state: str, media_root: str, catalog_root: str, deadline_seconds: float
) -> tuple[capture.Manifests, list[ArchivedMedia]]:
    """Collect both manifests and copy every file; returns the manifests without URLs."""
    settings = await load_settings()
    options = settings.storage_options()
    # Media goes to presigned URLs: a plain client, never the API client with its Token.
    media_http = httpx.AsyncClient(timeout=settings.http_timeout_seconds)
    async with meetstream(settings) as client, media_http as http:
        manifests = await capture.fetch_manifests(
            client,
            bot_id,
            state=BotState.parse(state),
            deadline_seconds=deadline_seconds,
            poll_interval=settings.poll_interval_seconds,
            poll_max_interval=settings.poll_max_interval_seconds,
        )
        expected = await asyncio.to_thread(
            catalog.existing_media_checksums, catalog_root, bot_id, storage_options=options
        )
        media = await capture.archive_media(
            client,
            http,
            bot_id,
            manifests,
            media_root=media_root,
            storage_options=options,
            expected=expected,
            concurrency=settings.archive_concurrency,
            on_progress=_ArchiveProgress(bot_id),
        )
    return manifests.without_urls(), media


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
        )


@task(name="write-catalog")
async def write_catalog(
    catalog_root: str,
    request: MeetingRequest,
    key: str,
    bot_id: str,
    platform: str | None,
    state: str,
    manifests: capture.Manifests,
    media: list[ArchivedMedia],
    created_at: dt.datetime | None,
    left_at: dt.datetime | None,
    run_id: str | None = None,
) -> dict[str, Any]:
    settings = await load_settings()
    # Off the event loop, which holds every other waiting meeting of this process. Writers
    # need no lock: each commit to the catalog is atomic and retried on conflict.
    record = await asyncio.to_thread(
        functools.partial(
            capture.write_catalog,
            catalog_root=catalog_root,
            storage_options=settings.storage_options(),
            request=request,
            key=key,
            bot_id=bot_id,
            platform=platform,
            state=BotState.parse(state),
            manifests=manifests,
            media=media,
            created_at=created_at,
            left_at=left_at,
            run_id=run_id,
        )
    )
    progress(
        "Bot %s catalogued: %s, %s files, %s participants with audio%s",
        bot_id,
        record.outcome,
        record.media_files,
        record.audio_participants,
        f" ({record.reason})" if record.reason else "",
        bot_id=bot_id,
    )
    result: dict[str, Any] = record.model_dump(mode="json")
    return result


@task(name="record-failure")
async def record_failure(
    catalog_root: str,
    request: MeetingRequest,
    key: str,
    bot_id: str,
    reason: str,
    created_at: dt.datetime | None,
) -> bool:
    settings = await load_settings()
    return await asyncio.to_thread(
        functools.partial(
            capture.record_failure,
            catalog_root=catalog_root,
            storage_options=settings.storage_options(),
            request=request,
            key=key,
            bot_id=bot_id,
            reason=reason,
            created_at=created_at,
        )
    )
