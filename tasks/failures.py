"""A refusal the operator fixes with a setting or a parameter reads as one line in the run
log and the worker's output; its traceback only when the flow-run logger is at DEBUG.

Prefect logs any exception that ends a flow run with `logger.exception`, so a misspelled
Secret block name printed its one-line fix under a 56-line traceback of Prefect's engine.
The filter sits on Prefect's `prefect.flow_runs` logger (the run log and the console) and
leaves every other exception, and every other logger, as it is.
"""

from __future__ import annotations

import logging

FLOW_RUN_LOGGER = "prefect.flow_runs"


class OneLineFailures(logging.Filter):
    """Strips the traceback from a record of one of `kinds`, keeping its message."""

    def __init__(self, kinds: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.kinds = kinds

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, self.kinds) and not logging.getLogger(FLOW_RUN_LOGGER).isEnabledFor(
            logging.DEBUG
        ):
            record.msg, record.args = "%s", (f"Refused: {error}",)
            record.exc_info, record.exc_text = None, None
        return True


def one_line_failures(*kinds: type[BaseException]) -> None:
    """Install the filter for `kinds` on the flow-run logger (once per process)."""
    logger = logging.getLogger(FLOW_RUN_LOGGER)
    if not any(isinstance(f, OneLineFailures) for f in logger.filters):
        logger.addFilter(OneLineFailures(kinds))
