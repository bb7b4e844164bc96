"""What `meetstream-catalog capture` and `collect` show in a terminal while a meeting runs.

The run's progress facts are logged once, by the Prefect tasks, to the run log (so the UI
shows them); records that carry `progress=True` are picked out here and printed as one
line each, under a spinner with the time elapsed. Prefect's own console output (task
states, tracebacks) is silenced unless `--debug`.

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


class ProgressView(logging.Handler):
    """A logging handler that prints progress records under a live spinner."""

    def __init__(self, console: Console, progress: Progress) -> None:
        super().__init__(level=logging.INFO)
        self.console = console
        self.progress = progress
        self.task = progress.add_task("starting", total=None)
        self.bot_id: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "progress", False):
            return
        self.bot_id = getattr(record, "bot_id", None) or self.bot_id
        message = record.getMessage()
        stamp = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        self.progress.console.print(f"[dim]{stamp}[/dim] {message}", highlight=False)
        self.progress.update(self.task, description=message.split(";", 1)[0])


@contextmanager
def progress_view(*, debug: bool) -> Iterator[ProgressView]:
    """Show progress records on stderr for the duration of the block.

    Call after Prefect is imported (its logging setup replaces the root handlers). Without
    `debug`, Prefect's console output stays off until the process exits: its temporary API
    server logs its shutdown after the command's last line.
    """
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # done lazily by Prefect otherwise, undoing what follows
    console = Console(stderr=True, soft_wrap=True)
    prefect_logger = logging.getLogger("prefect")
    if not debug:
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.CRITICAL + 1)
        # Prefect's own INFO lines (its temporary server stopping at exit) stay quiet, while
        # the run loggers keep INFO: the progress facts still reach the run log and us.
        prefect_logger.setLevel(logging.WARNING)
        for name in ("prefect.flow_runs", "prefect.task_runs"):
            logging.getLogger(name).setLevel(logging.INFO)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        view = ProgressView(console, progress)
        prefect_logger.addHandler(view)
        try:
            yield view
        finally:
            prefect_logger.removeHandler(view)
