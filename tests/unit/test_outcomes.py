"""Outcomes a script can trust: partial vs failed, one readable reason, exit statuses."""

from __future__ import annotations

import pytest

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.catalogue import outcome_for
from meetstream_catalog.cli.capture_commands import EXIT_STATUS, exit_status
from meetstream_catalog.job import Archived, CaptureResult
from meetstream_catalog.meetstream.bot import BotState
from meetstream_catalog.meetstream.manifests import Manifests
from meetstream_catalog.meetstream.models import AudioManifest

MISSING = [
    f"audio of 'Sam' (segment {i}, key b1/audio/sam/{i}.webm): the media URL answers 410; "
    "it is gone"
    for i in range(4)
]


def archived(files: int, missing: list[str]) -> Archived:
    audio = AudioManifest.model_validate({"participants": []})
    media = [
        ArchivedMedia(
            bot_id="b1",
            kind="audio",
            key=f"b1/audio/x/{i}.webm",
            segment_index=i,
            storage_uri=f"/m/b1/audio/x/{i}.webm",
            bytes=10,
            sha256="0" * 64,
        )
        for i in range(files)
    ]
    return Archived(Manifests(audio=audio), media, missing)


def test_some_files_missing_is_partial_with_one_line_naming_the_first_and_the_command() -> None:
    outcome, reason = outcome_for(BotState.STOPPED, archived(2, MISSING), "b1")

    assert outcome is Outcome.PARTIAL
    assert reason.startswith("4 of 6 media files not archived (first: audio of 'Sam' (segment 0")
    assert reason.count("audio of 'Sam'") == 1
    assert reason.count("meetstream-catalog collect b1") == 1
    assert "\n" not in reason
    assert len(reason) < 300


def test_nothing_archived_from_a_meeting_with_media_is_failed_not_partial() -> None:
    outcome, reason = outcome_for(BotState.STOPPED, archived(0, MISSING), "b1")

    assert outcome is Outcome.FAILED
    assert reason.startswith("4 of 4 media files not archived")


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        (["captured"], 0),
        (["in_progress"], 0),
        (["partial"], 3),
        (["error"], 3),
        (["denied"], 4),
        (["no_media"], 4),
        (["failed"], 1),
        (["captured", "denied", "partial"], 3),
        (["partial", "failed", "captured"], 1),
        ([], 0),
    ],
)
def test_the_exit_status_says_the_worst_outcome(
    outcomes: list[str], status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    results = [
        CaptureResult(
            meeting="https://zoom.us/j/1", bot_id=f"b{i}", outcome=Outcome(o), reason="why"
        )
        for i, o in enumerate(outcomes)
    ]

    assert exit_status(results if len(results) != 1 else results[0]) == status
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == sum(EXIT_STATUS[o] != 0 for o in outcomes)  # one line per meeting
    assert all(line.startswith("error: ") and line.endswith(": why") for line in lines)


def test_every_outcome_has_an_exit_status() -> None:
    assert set(EXIT_STATUS) == {o.value for o in Outcome}
