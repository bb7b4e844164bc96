"""Prefect tasks: thin wrappers over `tasks.capture`, one per meeting step.

Each task builds what it needs from settings, calls one plain function and returns
serializable data without presigned URLs. One task per step, never one per poll: a task
run costs milliseconds, so polling loops live inside the wait task.

Retries: transient HTTP failures are already retried inside the client; task retries cover
a whole step again (say, the archive after a worker hiccup) and `retry_transient_only`
refuses to repeat permanent errors such as a 401 or a 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import httpx
from prefect import Task, task
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.objects import State, TaskRun
from prefect.concurrency.asyncio import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from pydantic import SecretStr

from tasks import capture, catalog
from tasks.client import MeetStreamClient
from tasks.compaction import CATALOG_WRITER_LIMIT
from tasks.errors import is_transient
from tasks.models import ArchivedMedia, BotState
from tasks.request import MeetingRequest
from tasks.settings import Settings

WRITER_TIMEOUT = 3600.0  # seconds to wait for the catalog-writer slot (compaction holds it)
_T = TypeVar("_T")
SECRET_BLOCK = "meetstream-api-key"  # noqa: S105 - a block name, not a secret


async def retry_transient_only(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """retry_condition_fn: repeat a step only when it failed for a transient reason."""
    try:
        await state.aresult()
    except Exception as exc:  # noqa: BLE001 - classify whatever the step raised
        return is_transient(exc)
    return False


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


async def ensure_writer_limit(name: str = CATALOG_WRITER_LIMIT) -> None:
    """Create the global concurrency limit `name` (limit 1) unless it exists."""
    async with get_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # another run created it first
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )


class _CatalogWriter:
    """Runs this process's catalog writes one at a time, under the `catalog-writer` slot.

    Compaction must not rewrite a day while a capture replaces a bot's rows in it, and two
    re-captured bots must not rewrite one compacted file at once (on s3:// there is no file
    lock), so writes are exclusive. Asking the API for the slot once per write cost ~1.5 s
    each when hundreds of meetings ended together (bench/capture_bench.py), so one task
    takes the slot and drains every write queued meanwhile before it lets go.
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Callable[[], Any], asyncio.Future[Any]]] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[], _T]) -> _T:
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((write, future))
        if self.worker is None:
            self.worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while not self.queue.empty():
                async with concurrency(
                    CATALOG_WRITER_LIMIT, occupy=1, timeout_seconds=WRITER_TIMEOUT
                ):
                    while not self.queue.empty():
                        write, future = self.queue.get_nowait()
                        try:
                            future.set_result(write())
                        except Exception as exc:  # noqa: BLE001 - handed to the caller
                            future.set_exception(exc)
        except BaseException as exc:  # the slot could not be had: fail every waiting write
            while not self.queue.empty():
                self.queue.get_nowait()[1].set_exception(exc)
            raise
        finally:
            self.worker = None  # no await since the last empty check: nothing is stranded


# One writer per event loop (asyncio queues and tasks belong to the loop that made them).
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _CatalogWriter] = (
    weakref.WeakKeyDictionary()
)


async def write_exclusively(write: Callable[[], _T]) -> _T:
    """Run `write` (a quick, synchronous catalog write) under the catalog-writer slot."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = _CatalogWriter()
    return await writer.run(write)


@asynccontextmanager
async def meetstream(settings: Settings) -> AsyncIterator[MeetStreamClient]:
    settings.require_api_key()
    async with MeetStreamClient(settings=settings) as client:
        yield client


# Every step: up to two more attempts, only for transient failures.
_RETRIES = 2
_DELAYS = [5.0, 30.0]


@task(
    name="create-bot",
    retries=_RETRIES,
    retry_delay_seconds=_DELAYS,
    retry_condition_fn=retry_transient_only,
)
async def create_bot(request: MeetingRequest, key: str) -> dict[str, Any]:
    async with meetstream(await load_settings()) as client:
        return await capture.create_bot(client, request, key)


@task(
    name="wait-until-left",
    retries=_RETRIES,
    retry_delay_seconds=_DELAYS,
    retry_condition_fn=retry_transient_only,
)
async def wait_until_left(bot_id: str, deadline_seconds: float) -> dict[str, Any]:
    settings = await load_settings()
    async with meetstream(settings) as client:
        status = await client.wait_until_left(
            bot_id,
            timeout=deadline_seconds,
            initial_interval=settings.poll_interval_seconds,
            max_interval=settings.poll_max_interval_seconds,
        )
        detail = await client.get_detail(bot_id)
    state = detail.exit_state() if status.state is BotState.DONE else status.state
    return {
        "state": state.value,
        "platform": detail.platform,
        "meeting_link": detail.meeting_link,
        "bot_name": detail.bot_name,
        "left_at": dt.datetime.now(dt.UTC),
    }


@task(
    name="archive-media",
    retries=_RETRIES,
    retry_delay_seconds=_DELAYS,
    retry_condition_fn=retry_transient_only,
)
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
        expected = catalog.existing_media_checksums(catalog_root, bot_id, storage_options=options)
        media = await capture.archive_media(
            client,
            http,
            bot_id,
            manifests,
            media_root=media_root,
            storage_options=options,
            expected=expected,
            concurrency=settings.archive_concurrency,
        )
    return manifests.without_urls(), media


@task(
    name="write-catalog",
    retries=_RETRIES,
    retry_delay_seconds=_DELAYS,
    retry_condition_fn=retry_transient_only,
)
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
    # Not in a thread: a write takes ~20 ms, while a slot in the default executor can take
    # seconds when other meetings' archive uploads fill it (measured).
    record = await write_exclusively(
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
    return await write_exclusively(
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
