"""What `meetstream-catalog capture` and `collect` show in a terminal while a meeting runs.

The Prefect tasks log each progress fact to the run log (so the UI shows it) and to the
plain logger `meetstream.progress`, which this view prints as one line each, under a
spinner with the time elapsed. Prefect's own console output (task states, tracebacks) is
turned off by the CLI through Prefect's logging settings unless `--debug`.

The trap guarded here: a terminal that says nothing for an hour, and an interrupted run
that never says its bot is still in the meeting. `ProgressView.bot_id` remembers the last
bot a progress line named, so the Ctrl-C message can say how to resume.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

PROGRESS_LOGGER = "meetstream.progress"  # tasks.progress.PROGRESS


class ProgressView(logging.Handler):
    """A logging handler that prints progress records under a live spinner."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(level=logging.INFO)
        self.progress = progress
        self.task = progress.add_task("starting", total=None)
        self.bot_id: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.bot_id = getattr(record, "bot_id", None) or self.bot_id
        message = record.getMessage()
        stamp = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        self.progress.console.print(f"[dim]{stamp}[/dim] {message}", highlight=False)
        self.progress.update(self.task, description=message.split(";", 1)[0])


@contextmanager
def progress_view() -> Iterator[ProgressView]:
    """Print the `meetstream.progress` records on stderr for the duration of the block."""
    console = Console(stderr=True, soft_wrap=True)
    logger = logging.getLogger(PROGRESS_LOGGER)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # printed here only, not again by a root handler
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        view = ProgressView(progress)
        logger.addHandler(view)
        try:
            yield view
        finally:
            logger.removeHandler(view)
