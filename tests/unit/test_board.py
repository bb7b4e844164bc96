"""A batch's live table: every meeting listed from the start, outcomes republished at most
every `Board.EVERY_SECONDS`, so its versions are bounded by the run's length, not by N."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flows.meeting as module
from flows.meeting import Board
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.job import CaptureJob, CaptureResult
from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import Settings


def _job(link: str, key: str, root: Path) -> CaptureJob:
    return CaptureJob.for_request(
        MeetingRequest(meeting_link=link, bot_name="Recorder"),
        key=key,
        media_root=Root(str(root / "media")),
        catalog_root=Root(str(root / "catalog")),
        settings=Settings(),
    )


async def test_every_meeting_has_a_row_from_the_start_and_outcomes_are_published_in_batches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    published: list[list[dict[str, Any]]] = []

    async def table(*, table: list[dict[str, Any]], key: str, description: str) -> None:
        assert key == "capture-summary"
        published.append(table)

    monkeypatch.setattr(module, "acreate_table_artifact", table)
    # Two meetings of the same room: one row each (rows are keyed by the job, not the link).
    jobs = [_job("https://zoom.us/j/1", f"k{i}", tmp_path) for i in range(2)]
    jobs.append(_job("https://zoom.us/j/2", "k2", tmp_path))
    board = Board(jobs, key="capture-summary")

    await board.publish()
    await board.record(
        jobs[0], CaptureResult(meeting=jobs[0].meeting_link, outcome=Outcome.CAPTURED)
    )
    await board.record(jobs[1], CaptureResult(meeting=jobs[1].meeting_link, outcome=Outcome.FAILED))
    assert [[row["outcome"] for row in rows] for rows in published] == [["in_progress"] * 3]

    board.published -= Board.EVERY_SECONDS  # as if the last publication were that old
    await board.record(
        jobs[2], CaptureResult(meeting=jobs[2].meeting_link, outcome=Outcome.PARTIAL)
    )
    assert [row["outcome"] for row in published[-1]] == ["captured", "failed", "partial"]
    assert len(published) == 2


def test_a_row_says_what_became_of_the_transcript_only_when_one_was_asked_for() -> None:
    def row(transcript: str | None) -> dict[str, object]:
        result = CaptureResult(meeting="m", outcome=Outcome.CAPTURED, transcript=transcript)
        return module.artifact_rows([result])[0]

    assert row("failed")["transcript"] == "failed"
    assert row("available")["transcript"] == "available"
    assert row("not_requested")["transcript"] == row(None)["transcript"] == ""
