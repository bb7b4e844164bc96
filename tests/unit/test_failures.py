"""A refusal an operator fixes reads as one line; its traceback only at DEBUG."""

from __future__ import annotations

import logging

import pytest

from tasks.failures import FLOW_RUN_LOGGER, OneLineFailures


class Refused(ValueError):
    pass


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException as exc:  # noqa: BLE001 - the record carries whatever was raised
        info = (type(exc), exc, exc.__traceback__)
    return logging.LogRecord(
        FLOW_RUN_LOGGER, logging.ERROR, __file__, 1,
        "Encountered exception during execution: %r", (error,), info,
    )  # fmt: skip


@pytest.fixture
def flow_run_level() -> object:
    logger = logging.getLogger(FLOW_RUN_LOGGER)
    before = logger.level
    yield logger
    logger.setLevel(before)


def test_a_refusal_keeps_its_line_and_loses_its_traceback(flow_run_level: logging.Logger) -> None:
    flow_run_level.setLevel(logging.INFO)
    record = _record(Refused("No Secret block named 'x': create it"))

    assert OneLineFailures((Refused,)).filter(record)

    assert record.getMessage() == "Refused: No Secret block named 'x': create it"
    assert record.exc_info is None
    assert "Traceback" not in logging.Formatter().format(record)


def test_other_errors_and_debug_keep_the_traceback(flow_run_level: logging.Logger) -> None:
    flow_run_level.setLevel(logging.INFO)
    other = _record(RuntimeError("a bug"))
    OneLineFailures((Refused,)).filter(other)
    assert "Traceback" in logging.Formatter().format(other)

    flow_run_level.setLevel(logging.DEBUG)
    refused = _record(Refused("fix it"))
    OneLineFailures((Refused,)).filter(refused)
    assert "Traceback" in logging.Formatter().format(refused)
