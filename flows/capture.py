"""Capture flows: one meeting, many meetings in one process, or an existing bot.

Wiring only: each step is a task from `tasks.steps`. All three flows share `_capture`,
which turns any failure of one meeting into a catalogued outcome, so in `capture_meetings`
one meeting's failure never stops the others. Flows are async because hundreds of
meetings waiting on their bots must be cheap in one worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.runtime import flow_run

from tasks import catalog, report, steps
from tasks.errors import redact
from tasks.preflight import PreflightError, preflight
from tasks.request import (
    MeetingRequest,
    idempotency_key,
    leave_deadline_seconds,
    platform_from_link,
)
from tasks.settings import resolve_root


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
async def capture_meeting(request: MeetingRequest) -> dict[str, Any]:
    """Send a recorder into one meeting, wait until it leaves, archive everyone's audio and
    video into your storage and add the meeting to the catalog."""
    roots = await _roots()
    request = await steps.resolve_link(request)
    await _preflight(roots, request)
    result = await _capture(request, *roots)
    await _artifacts([result], roots[1], key="meeting-capture")
    if result["outcome"] == "failed":
        raise CaptureFailedError(result["reason"])
    return result


@flow(name="capture-meetings")
async def capture_meetings(
    requests: list[MeetingRequest], concurrency: int = 50
) -> list[dict[str, Any]]:
    """Capture many meetings concurrently in this flow run (at most `concurrency` at once)."""
    roots = await _roots()
    await _preflight(roots, None)
    gate = asyncio.Semaphore(concurrency)

    async def one(request: MeetingRequest) -> dict[str, Any]:
        async with gate:
            return await _capture(await steps.resolve_link(request), *roots)

    results = list(await asyncio.gather(*(one(r) for r in requests)))
    await _artifacts(results, roots[1], key="capture-summary")
    return results


@flow(name="collect-bot", flow_run_name=_collect_run_name)
async def collect_bot(bot_id: str) -> dict[str, Any]:
    """Archive and catalogue a bot that already exists (created elsewhere, or by a capture
    that was interrupted) without creating one."""
    roots = await _roots()
    await _preflight(roots, None)
    # What the request would have said comes from the bot's detail once it has left.
    request = MeetingRequest.model_construct(meeting_link="", bot_name="")
    result = await _capture(request, *roots, bot_id=bot_id)
    await _artifacts([result], roots[1], key="bot-collection")
    if result["outcome"] == "failed":
        raise CaptureFailedError(result["reason"])
    return result


async def _roots() -> tuple[str, str]:
    """The storage roots: operator settings of the worker, never run parameters."""
    settings = await steps.load_settings()
    return resolve_root(settings.media_root), resolve_root(settings.catalog_root)


async def _preflight(roots: tuple[str, str], request: MeetingRequest | None) -> None:
    """Refuse, before any bot is created, a capture that could not finish."""
    settings = await steps.load_settings()
    try:
        await preflight(settings, media_root=roots[0], catalog_root=roots[1], request=request)
    except PreflightError as exc:
        raise CaptureFailedError(str(exc)) from None


async def _capture(
    request: MeetingRequest,
    media_root: str,
    catalog_root: str,
    *,
    bot_id: str | None = None,
) -> dict[str, Any]:
    """Run one meeting's steps; never raises: a failure becomes outcome 'failed'."""
    logger = get_run_logger()
    key = idempotency_key(request, run_scope=str(flow_run.get_id()))
    link = catalog.redact_meeting_link(request.meeting_link)
    created_at = dt.datetime.now(dt.UTC)
    try:
        if bot_id is None:
            created = await steps.create_bot(request, key)
            bot_id = str(created["bot_id"])
        left = await steps.wait_until_left(bot_id, leave_deadline_seconds(request))
        # collect-bot knows only the id: the bot's detail fills in what the request lacks
        request = request.model_copy(
            update={
                "meeting_link": request.meeting_link or left["meeting_link"] or "",
                "bot_name": request.bot_name or left["bot_name"] or "",
            }
        )
        settings = await steps.load_settings()
        manifests, media = await steps.archive_media(
            bot_id, left["state"], media_root, catalog_root, settings.processing_timeout_seconds
        )
        record = await steps.write_catalog(
            catalog_root=catalog_root,
            request=request,
            key=key,
            bot_id=bot_id,
            platform=left["platform"] or platform_from_link(request.meeting_link),
            state=left["state"],
            manifests=manifests,
            media=media,
            created_at=created_at,
            left_at=left["left_at"],
            run_id=str(flow_run.get_id()),
        )
    except Exception as exc:  # noqa: BLE001 - one meeting's failure must not stop others
        reason = f"{type(exc).__name__}: {redact(str(exc))}"
        if bot_id is not None:
            reason += f"; resume with: meetstream-catalog collect {bot_id}"
        logger.error("Capture of %s (bot %s) failed: %s", link, bot_id or "-", reason)
        if bot_id is not None:
            await _record_failure(request, catalog_root, key, bot_id, reason, created_at)
        return {"meeting": link, "bot_id": bot_id, "outcome": "failed", "reason": reason}
    return {"meeting": link, **_summary(record)}


async def _record_failure(
    request: MeetingRequest,
    catalog_root: str,
    key: str,
    bot_id: str,
    reason: str,
    created_at: dt.datetime,
) -> None:
    try:
        await steps.record_failure(catalog_root, request, key, bot_id, reason, created_at)
    except Exception as exc:  # noqa: BLE001 - the run already failed; say so, keep going
        get_run_logger().error("Could not catalogue the failure of bot %s: %s", bot_id, exc)


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "bot_id",
        "platform",
        "final_status",
        "outcome",
        "reason",
        "audio_participants",
        "webcam_streams",
        "screenshare_streams",
        "media_files",
        "media_bytes",
    )
    return {k: record.get(k) for k in keep}


async def _artifacts(results: Sequence[dict[str, Any]], catalog_root: str, *, key: str) -> None:
    """A table of this run's meetings and a markdown summary of what it added to the catalog."""
    rows = [{k: ("" if v is None else v) for k, v in r.items()} for r in results]
    failed = sum(r["outcome"] == "failed" for r in results)
    await acreate_table_artifact(
        table=rows,
        key=key,
        description=f"{len(results)} meeting(s), {failed} failed. No URLs or keys are shown.",
    )
    try:
        settings = await steps.load_settings()
        bots, people = await asyncio.to_thread(
            report.catalog_rows,
            catalog_root,
            [r["bot_id"] for r in results if r.get("bot_id")],
            settings.storage_options(),
        )
        markdown = report.catalog_delta_markdown(results, bots=bots, participants=people)
    except Exception as exc:  # noqa: BLE001 - a summary must never fail a finished capture
        get_run_logger().warning("Could not summarize the catalog delta: %s", redact(str(exc)))
        return
    await acreate_markdown_artifact(
        key="catalog-delta",
        markdown=markdown,
        description="What this run added to the catalog, and what went wrong.",
    )
