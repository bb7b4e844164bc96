"""A waiting bot's progress: each status change once, and a heartbeat while nothing changes."""

from __future__ import annotations

import importlib

import pytest

from tasks.progress import StatusReport

module = importlib.import_module("tasks.progress")  # `tasks.progress` is also a function


def test_changes_are_reported_once_and_silence_gets_a_heartbeat_every_five_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines: list[str] = []
    monkeypatch.setattr(
        module, "progress", lambda message, *args, **_: lines.append(message % args)
    )
    report = StatusReport("b1", deadline_seconds=3600)
    start = report.started = report.reported = 1000.0  # exact: whole seconds stay whole

    for at, status in [(5, "Joining"), (10, "Joining"), (20, "InMeeting"), (75, "InMeeting"),
                       (319, "InMeeting"), (321, "InMeeting"), (500, "InMeeting"),
                       (622, "InMeeting"), (640, "Stopped")]:  # fmt: skip
        report(status, now=start + at)

    assert lines == [
        "Bot b1: Joining (0m05s elapsed; archiving starts when it leaves; gives up in 59m55s)",
        "Bot b1: InMeeting (0m20s elapsed; archiving starts when it leaves; gives up in 59m40s)",
        "Bot b1: still InMeeting (5m21s elapsed; archiving starts when it leaves; "
        "gives up in 54m39s)",
        "Bot b1: still InMeeting (10m22s elapsed; archiving starts when it leaves; "
        "gives up in 49m38s)",
        "Bot b1: Stopped (10m40s elapsed; it has left: archiving starts now)",
    ]


def test_in_a_batch_status_changes_reach_the_run_log_and_heartbeats_stay_at_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    logged: list[tuple[int, str]] = []

    class RunLog:
        def log(self, level: int, message: str, *args: object) -> None:
            logged.append((level, message % args))

    monkeypatch.setattr(module, "get_run_logger", RunLog)
    token = module.IN_BATCH.set(True)
    try:
        report = StatusReport("b1", deadline_seconds=3600)
        for at, status in [(5, "Joining"), (20, "InMeeting"), (321, "InMeeting")]:
            report(status, now=report.started + at)
    finally:
        module.IN_BATCH.reset(token)

    assert [level for level, _ in logged] == [logging.INFO, logging.INFO, logging.DEBUG]
    assert logged[2][1].startswith("Bot b1: still InMeeting")
