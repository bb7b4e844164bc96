"""Erasure from the Prefect UI: the `erase` flow (issue 21).

Wiring only; the work is `meetstream_catalog.erase`. Without `confirm` the run only lists
what would go, as a markdown artifact; with it, the erasure runs (the same steps, order and
resume as `meetstream-catalog erase`). The trap guarded against: personal data kept by
Prefect. The artifact and the run log name the person only by the digest of their key and
list files by count, never by URI (keys are built from display names). The flow's own
parameters (a name typed in the form) stay in Prefect's database: delete the flow run
afterwards, or use the command line.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact

from flows.form import titled
from meetstream_catalog.catalog.erase_scope import choose_subject
from meetstream_catalog.erase import (
    ErasureReport,
    format_plan,
    meetstream_delete,
    plan_erasure,
    run_erasure,
)
from meetstream_catalog.request.meeting import OptionalText
from meetstream_catalog.settings import Settings


@flow(name="erase")
async def erase(
    bot_id: Annotated[OptionalText, titled("Bot id (the meeting)")] = None,
    participant: Annotated[OptionalText, titled("Participant's display name")] = None,
    everywhere: Annotated[bool, titled("The participant in every meeting")] = False,
    reason: Annotated[str, titled("Request reference (needed to erase)")] = "",
    confirm: Annotated[bool, titled("Erase (off: only list what would go)")] = False,
    delete_at_meetstream: Annotated[bool, titled("Also delete a meeting at MeetStream")] = True,
) -> ErasureReport | None:
    """List (and with `confirm`, erase) a meeting or a person from every copy: media,
    tables, history, export folders and, for a meeting, MeetStream. Returns the report, or
    None for a listing. Raises ValueError for a subject or reason that is missing."""
    settings = Settings()
    subject = choose_subject(bot_id=bot_id, name=participant, everywhere=everywhere)
    plan = await asyncio.to_thread(plan_erasure, settings.catalog(), subject)
    await acreate_markdown_artifact(
        markdown=f"```\n{format_plan(plan, names=False)}```",
        key="erasure-plan",
        description="What the erasure removes (files by count: their keys carry names).",
    )
    if not confirm:
        return None
    if not reason.strip():
        raise ValueError("an erasure needs a reason (the request reference kept in the audit)")
    deleting = delete_at_meetstream and subject.kind == "bot"
    return await asyncio.to_thread(
        run_erasure,
        subject,
        reason.strip(),
        catalog=settings.catalog(),
        media=settings.media(),
        delete_at_source=meetstream_delete(settings) if deleting else None,
        say=get_run_logger().info,
    )
