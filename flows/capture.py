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
from typing import Annotated

from prefect import flow
from prefect.runtime import flow_run

import tasks
from flows.form import titled
from flows.meeting import (
    Board,
    CaptureFailedError,
    capture_in_batch,
    finish,
    finish_many,
    preflight_once,
    run_meeting,
    write_artifacts,
)
from meetstream_catalog import catalogue
from meetstream_catalog.catalog import pending
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.job import CaptureJob, CaptureMode, CaptureResult
from meetstream_catalog.meetstream.http import Clients, open_clients
from meetstream_catalog.redaction import redact
from meetstream_catalog.request import MeetingRequest, idempotency_key
from meetstream_catalog.request.links import public_part, run_label
from meetstream_catalog.settings import Settings
from meetstream_catalog.webhooks import auth
from tasks.settings import RunSettings, link_gone

__all__ = ["CaptureFailedError", "capture_meeting", "capture_meetings"]


def _meeting_run_name() -> str:
    request = flow_run.get_parameters().get("request")
    if isinstance(request, MeetingRequest):
        return request.run_name()
    if isinstance(request, dict):
        with contextlib.suppress(ValueError):
            return MeetingRequest.model_validate(request).run_name()
        link = request.get("meeting_link")
        if isinstance(link, str):  # a request the flow refuses: named by its address only
            return f"{run_label(public_part(link))} · refused"
    return "meeting"


# validate_parameters=False: `tasks.checked_request` validates instead, because Prefect logs
# every parameter (a passcode included) of a run whose parameters fail its validation.
@flow(name="capture-meeting", flow_run_name=_meeting_run_name, validate_parameters=False)
async def capture_meeting(
    request: Annotated[MeetingRequest, titled("Meeting to record")],
    new_bot: Annotated[bool, titled("Send another recorder")] = False,
    mode: Annotated[CaptureMode, titled("After the recorder joins")] = "auto",
) -> CaptureResult:
    """Send a recorder into one meeting, wait until it leaves, archive everyone's audio and
    video into your storage and add the meeting to the catalog. In webhook mode the run
    ends once the recorder is in; the receiver's event collects it when the meeting ends.

    Running the same request again (after a crash, an interruption, or by mistake) never
    sends a second recorder: this run resumes the earlier one's bot, completes it, or says
    it is already captured, unless `new_bot` is set. What makes two runs the same request
    is in docs/architecture.md ("Exactly one bot per meeting").

    Args:
        request: The meeting, and how to record it.
        new_bot: Send another recorder even if one is already recording this meeting.
        mode: "wait" keeps this run going until the meeting is archived; "webhook" ends it
            once the recorder is in, and the webhook receiver starts the archiving when the
            meeting ends; "auto" picks webhook when a receiver is configured.
    """
    request = await _checked(request)
    run = await tasks.load_settings()
    callback = _callback_url(_mode(mode), run.settings)
    full = await tasks.resolve_link(request)
    await preflight_once(run, full)
    resume = None if new_bot else await _same_request(run, full)
    if resume is None and link_gone(full):
        raise CaptureFailedError(
            f"the Secret block {full.link_secret!r} with this meeting's full link is gone "
            "and no bot of this request is known: start the capture again with the link"
        )
    if resume is not None and resume.finished:  # nothing to create, copy or write again
        done = Outcome(resume.outcome or Outcome.CAPTURED)
        return finish(CaptureResult(meeting=full.meeting_link, bot_id=resume.bot_id, outcome=done))  # type: ignore[return-value]
    if resume is not None:
        job = _request_job(full, run, key=resume.key, callback_url=callback)
    else:
        job = _request_job(full, run, callback_url=callback, new_bot=new_bot)
        await record_intents([job])  # before any create call: see `catalog.intents`
    async with open_clients(run.settings) as clients:
        result = await run_meeting(job, clients, bot_id=resume.bot_id if resume else None)
    await write_artifacts([result], job.catalog_root, key="meeting-capture", timeline=True)
    # Prefect unwraps a returned State: the caller gets the result, the run its state's name.
    return finish(result)  # type: ignore[return-value]


@flow(name="capture-meetings", validate_parameters=False)
async def capture_meetings(
    requests: Annotated[list[MeetingRequest], titled("Meetings to record")],
    concurrency: Annotated[int, titled("Meetings at once")] = 50,
    mode: Annotated[CaptureMode, titled("After the recorder joins")] = "auto",
) -> list[CaptureResult]:
    """Capture many meetings concurrently in this flow run (at most `concurrency` at once)."""
    requests = [await _checked(r) for r in requests]
    run = await tasks.load_settings()
    callback = _callback_url(_mode(mode), run.settings)
    full = [await tasks.resolve_link(r) for r in requests]
    jobs = [_request_job(r, run, callback_url=callback) for r in full]
    if not jobs:
        return []
    await preflight_once(run, None)
    await record_intents(jobs)  # one commit for the batch, before any create call
    gate = asyncio.Semaphore(concurrency)
    board = Board(jobs, key="capture-summary")
    await board.publish()

    async def one(job: CaptureJob, clients: Clients) -> CaptureResult:
        async with gate:
            return await capture_in_batch(job, clients, board)

    async with open_clients(run.settings) as clients:
        results = list(await asyncio.gather(*(one(j, clients) for j in jobs)))
    await write_artifacts(results, jobs[0].catalog_root, key="capture-summary")
    return finish_many(results)  # type: ignore[return-value]


async def _checked(request: object) -> MeetingRequest:
    try:
        return await tasks.checked_request(request)
    except tasks.RequestRefusedError as exc:
        raise CaptureFailedError(str(exc)) from None


def _mode(mode: object) -> CaptureMode:
    if mode not in ("auto", "wait", "webhook"):
        raise CaptureFailedError("mode: use 'auto', 'wait' or 'webhook'")
    return mode


def _callback_url(mode: CaptureMode, settings: Settings) -> str | None:
    """The receiver's URL in webhook mode (auto: when one is configured), else None. Each
    job's callback URL adds its own token to it (`_request_job`)."""
    if mode == "wait" or (mode == "auto" and not settings.webhook_url):
        return None
    if not settings.webhook_url:
        raise CaptureFailedError(
            "webhook mode needs the receiver's public URL: set MEETSTREAM_WEBHOOK_URL "
            "(see docs/deploy.md, 'Webhooks'), or use mode 'wait'"
        )
    if settings.webhook_token_key is None or not settings.webhook_token_key.get_secret_value():
        raise CaptureFailedError(
            "webhook mode needs the callback token key the receiver checks: set "
            "MEETSTREAM_WEBHOOK_TOKEN_KEY (or the Secret block 'meetstream-webhook-token-key'; "
            "see docs/deploy.md, 'Webhooks'), or use mode 'wait'"
        )
    return settings.webhook_url


def _request_job(
    request: MeetingRequest,
    run: RunSettings,
    *,
    key: str | None = None,
    callback_url: str | None = None,
    new_bot: bool = False,
) -> CaptureJob:
    """The job for a meeting to capture: roots are operator settings, never run parameters.
    `key`: the one an earlier invocation of the same request used; `new_bot`: a key of this
    run's own, so MeetStream creates another bot even for a request it has seen;
    `callback_url`: the receiver's, to which the token of the job's key is added."""
    run_id = str(flow_run.get_id())
    key = key or idempotency_key(request, run_scope=run_id, new_bot=new_bot)
    token_key = run.settings.webhook_token_key
    if callback_url is not None and token_key is not None:  # `_callback_url` checked the key
        callback_url = auth.callback_url(callback_url, key, token_key.get_secret_value())
    return CaptureJob.for_request(
        request,
        key=key,
        settings=run.settings,
        media_root=run.media,
        catalog_root=run.catalog,
        run_id=run_id,
        callback_url=callback_url,
    )


async def record_intents(jobs: list[CaptureJob]) -> None:
    """Write the jobs' intents before any create call; without them, create nothing."""
    try:
        await asyncio.to_thread(catalogue.record_intents, jobs)
    except Exception as exc:  # noqa: BLE001 - one line, and no bot is created
        raise CaptureFailedError(
            f"could not record the capture in the catalog before creating a bot, so none "
            f"was created: {redact(str(exc))}"
        ) from None


async def _same_request(run: RunSettings, request: MeetingRequest) -> pending.Resume | None:
    """Where an earlier invocation of this request left off (a crashed or interrupted run)."""
    resume = await asyncio.to_thread(pending.same_request, request, run.catalog)
    if resume is None:
        return None
    link = request.meeting_link
    if resume.bot_id is None:
        tasks.progress(
            "An earlier run of this request was creating a bot for %s when it stopped: "
            "asking MeetStream for that bot again with the same key (no second bot)",
            link,
        )
        return resume
    if resume.finished:
        tasks.progress(
            "Bot %s already captured %s for this request (%s): nothing to do (--new-bot "
            "sends another bot, e.g. for the next meeting in the same room)",
            resume.bot_id,
            link,
            resume.outcome,
            bot_id=resume.bot_id,
        )
        return resume
    if resume.outcome != Outcome.IN_PROGRESS:
        tasks.progress(
            "Bot %s of this request ended %s: collecting it again to complete it (no "
            "second bot; files already archived are not copied again)",
            resume.bot_id,
            resume.outcome,
            bot_id=resume.bot_id,
        )
        return resume
    until = f"{resume.expected_end_at:%H:%M} UTC" if resume.expected_end_at else "unknown"
    tasks.progress(
        "Bot %s is already recording %s (expected end %s): resuming it instead of sending "
        "a second bot (--new-bot sends another)",
        resume.bot_id,
        link,
        until,
        bot_id=resume.bot_id,
    )
    return resume
