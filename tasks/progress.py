"""Progress lines a person waiting on a meeting wants: the run log and the terminal.

Each fact goes to the run log (the UI shows it) and to the `meetstream.progress` logger,
which the terminal view of the CLI prints (`meetstream_catalog.cli.console`). The trap
guarded here is Prefect's logging re-configuration, which replaces the handlers of the
loggers it names: the terminal listens on a plain logger of our own.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar

from prefect import get_run_logger

from meetstream_catalog.meetstream.bot import BotState

PROGRESS = logging.getLogger("meetstream.progress")

# Set for the meetings of a many-meeting run (`flows.meeting.capture_in_batch`): their
# repeated facts (heartbeats, archive progress) stay out of the run log, whose every line
# the API server records: 1,000 meetings x 12 heartbeats an hour. Milestones (bot created,
# each status change, left, archived, catalogued) are always logged; the terminal gets all.
IN_BATCH: ContextVar[bool] = ContextVar("meetstream_in_batch", default=False)


def progress(message: str, *args: object, bot_id: str | None = None, detail: bool = False) -> None:
    """Log one progress fact to the run log (and the terminal of `meetstream-catalog`);
    a `detail` of a meeting in a batch goes to the run log at DEBUG only."""
    level = logging.DEBUG if detail and IN_BATCH.get() else logging.INFO
    get_run_logger().log(level, message, *args)
    PROGRESS.info(message, *args, extra={"bot_id": bot_id})


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class StatusReport:
    """Reports a waiting bot's status when it changes, and a heartbeat every
    `HEARTBEAT_SECONDS` while it does not (a 60-minute meeting is not an hour of silence)."""

    HEARTBEAT_SECONDS = 300.0

    def __init__(self, bot_id: str, deadline_seconds: float) -> None:
        self.bot_id, self.deadline = bot_id, deadline_seconds
        self.started = self.reported = time.monotonic()
        self.status: str | None = None

    def __call__(self, status: str | None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        same = status == self.status
        if same and now - self.reported < self.HEARTBEAT_SECONDS:
            return
        self.status, self.reported = status, now
        elapsed = now - self.started
        if BotState.parse(status).has_left:
            what = "it has left: archiving starts now"
        else:
            what = "archiving starts when it leaves; gives up in " + duration(
                max(0.0, self.deadline - elapsed)
            )
        progress(
            "Bot %s: %s%s (%s elapsed; %s)",
            self.bot_id,
            "still " if same else "",
            status or "status unknown",
            duration(elapsed),
            what,
            bot_id=self.bot_id,
            detail=same,  # a change is always logged; in a batch a heartbeat only at DEBUG
        )


class ArchiveProgress:
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
