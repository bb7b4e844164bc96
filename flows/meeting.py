"""One meeting's steps wired as Prefect tasks, shared by the capture and collect flows.

`run_meeting` runs create (unless the bot exists), wait, archive, catalogue and the optional
delete at MeetStream, and turns any failure of the meeting into a catalogued `failed`
outcome, so one meeting's failure never stops the others. A one-meeting run shows each step
as a task run of its own. In a many-meeting run a meeting is no task run at all
(`capture_in_batch`): it is a row of the run's live table (`Board`) and named in every line
it logs. The trap guarded against: a task run costs ~30 ms of CPU (its three state events,
mostly in the API server), a batch's whole budget per meeting (docs/benchmarks.md, "Fleet").
Also here: the one preflight per run, and the run's artifacts (a one-meeting run's include
its timeline image).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from prefect import Task, get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed

import tasks
from meetstream_catalog.catalog import report
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.catalog.timeline import TimelineUnavailableError, read_timeline
from meetstream_catalog.catalog.timeline_svg import timeline_markdown
from meetstream_catalog.job import CaptureJob, CaptureResult
from meetstream_catalog.meetstream.http import Clients
from meetstream_catalog.redaction import redact
from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.request.meeting_list import MeetingListError
from meetstream_catalog.request.preflight import PreflightError, preflight
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import MissingApiKeyError
from tasks.failures import one_line_failures
from tasks.settings import RequestRefusedError, RunSettings

P = ParamSpec("P")
R = TypeVar("R")


class CaptureFailedError(RuntimeError):
    """The meeting could not be captured; the message says why and what to do."""


# Refusals an operator fixes with a setting or a parameter: one line, no traceback.
one_line_failures(
    CaptureFailedError, RequestRefusedError, PreflightError, MeetingListError, MissingApiKeyError
)


async def preflight_once(run: RunSettings, request: MeetingRequest | None) -> None:
    """Refuse, before any bot is created, a capture that could not finish (once: not again
    when the CLI already checked)."""
    if run.checked:
        return
    try:
        await preflight(
            run.settings, media_root=run.media, catalog_root=run.catalog, request=request
        )
    except PreflightError as exc:
        raise CaptureFailedError(str(exc)) from None


class Board:
    """A many-meeting run's live table artifact: one row per meeting, `in_progress` until it
    ends, published at the start and then at most every `EVERY_SECONDS` as meetings end
    (each version holds every row: a row per meeting ending would cost O(N^2)). The run's
    final table (`write_artifacts`, same key) replaces it."""

    EVERY_SECONDS = 30.0

    def __init__(self, jobs: Sequence[CaptureJob], key: str) -> None:
        self.key = key
        self.rows = {  # by the job's key: two meetings may share a link
            _row_key(job): CaptureResult(meeting=job.meeting_link, outcome=Outcome.IN_PROGRESS)
            for job in jobs
        }
        self.published = -self.EVERY_SECONDS

    async def publish(self) -> None:
        self.published = time.monotonic()  # before the await: one publication at a time
        rows = list(self.rows.values())
        await acreate_table_artifact(
            table=artifact_rows(rows), key=self.key, description=artifact_caption(rows)
        )

    async def record(self, job: CaptureJob, result: CaptureResult) -> None:
        self.rows[_row_key(job)] = result
        if time.monotonic() - self.published >= self.EVERY_SECONDS:
            await self.publish()


def _row_key(job: CaptureJob) -> str:
    """A board row's key: the job's idempotency key, or (a bot collected by id, which has
    none) the job itself."""
    return job.key or f"job-{id(job)}"


async def capture_in_batch(
    job: CaptureJob, clients: Clients, board: Board, bot_id: str | None = None
) -> CaptureResult:
    """One meeting of a many-meeting run, inside the run itself; its row on the `board`.

    No task run per meeting (see the module docstring): its steps run as plain calls, its
    milestones go to the run log, each line naming the bot (the "created" line names the
    meeting too), and its outcome to the board, the final table and the run's state.
    """
    token = tasks.IN_BATCH.set(True)
    try:
        result = await run_meeting(job, clients, bot_id=bot_id, staged=False)
    finally:
        tasks.IN_BATCH.reset(token)
    await board.record(job, result)
    return result


async def run_meeting(
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
        archived = await archive_media(job, clients, bot_id, left.state, left.transcript_id)
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


def finish(result: CaptureResult) -> State[CaptureResult]:
    """The flow run's final state for one meeting's result.

    `failed`: the run fails with the reason (a Failed state). `partial` (some files not
    archived; `collect` completes it) and `error` (the bot's session crashed): Completed,
    named "Partial", so a Prefect automation can tell it from a clean "Completed".
    """
    if result.outcome is Outcome.FAILED:
        raise CaptureFailedError(result.reason)
    return _completed([result], result)


def finish_many(results: list[CaptureResult]) -> State[list[CaptureResult]]:
    """A many-meeting run: Completed, named "Partial" if any meeting was not fully
    captured (failed, partial, error), each listed in its artifacts."""
    return _completed(results, results)


def _completed(results: Sequence[CaptureResult], data: R) -> State[R]:
    incomplete = [r for r in results if r.outcome in INCOMPLETE]
    if not incomplete:
        return Completed(data=data)
    return Completed(
        name="Partial",
        message=f"{len(incomplete)} of {len(results)} meeting(s) not fully captured: "
        + "; ".join(f"{r.meeting or r.bot_id}: {r.outcome.value}" for r in incomplete[:5]),
        data=data,
    )


INCOMPLETE = frozenset({Outcome.FAILED, Outcome.PARTIAL, Outcome.ERROR})


def artifact_rows(results: Sequence[CaptureResult]) -> list[dict[str, object]]:
    """One narrow row per meeting (the catalog-delta summary and the catalog say more)."""
    return [
        {
            "meeting": r.meeting,
            "outcome": r.outcome.value,
            "bot": r.bot_id or "",
            "files": "" if r.media_files is None else r.media_files,
            "missing": r.missing_files or "",
            "transcript": "" if r.transcript in (None, "not_requested") else r.transcript,
            "reason": r.reason if len(r.reason) <= 100 else r.reason[:99] + "…",
        }
        for r in results
    ]


def artifact_caption(results: Sequence[CaptureResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
    tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    return (
        f"{len(results)} meeting(s): {tally}. Meeting addresses only: no passcode, "
        "presigned URL or API key."
    )


async def write_artifacts(
    results: Sequence[CaptureResult], catalog_root: Root, *, key: str, timeline: bool = False
) -> None:
    """A table of this run's meetings and a markdown summary of what it added to the catalog;
    with `timeline` (one-meeting runs only), the meeting's timeline image when it has speech.
    Batches never draw one per meeting: reading four tables and storing an image per meeting
    would be most of a batch's per-meeting budget (docs/benchmarks.md, "Fleet")."""
    rows = [r.model_dump(mode="json") for r in results]
    await acreate_table_artifact(
        table=artifact_rows(results), key=key, description=artifact_caption(results)
    )
    one = results[0] if len(results) == 1 else None
    if timeline and one is not None and one.bot_id and one.outcome is not Outcome.IN_PROGRESS:
        await _write_timeline(one.bot_id, catalog_root)
    try:
        bots, people = await asyncio.to_thread(
            report.catalog_rows,
            catalog_root,
            [r.bot_id for r in results if r.bot_id],
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


async def _write_timeline(bot_id: str, catalog_root: Root) -> None:
    """The meeting's timeline as an image artifact (`catalog.timeline_svg`); none without
    speech turns (a denied bot, a meeting without a speaker timeline)."""
    try:  # reading and drawing block (~1 s for a 4-hour meeting): off the event loop
        markdown = await asyncio.to_thread(_timeline_markdown, bot_id, catalog_root)
    except Exception as exc:  # noqa: BLE001 - a picture must never fail a finished capture
        get_run_logger().warning("Could not draw the meeting's timeline: %s", redact(str(exc)))
        return
    if markdown is None:
        return
    await acreate_markdown_artifact(
        key="meeting-timeline",
        markdown=markdown,
        description="Who spoke when, over whom, and where the transcript's labels disagree.",
    )


def _timeline_markdown(bot_id: str, catalog_root: Root) -> str | None:
    try:
        return timeline_markdown(read_timeline(catalog_root, bot_id))
    except TimelineUnavailableError:
        return None
