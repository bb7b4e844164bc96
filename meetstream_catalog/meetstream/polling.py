"""Bounded waiting: poll a check until it yields a value or a monotonic deadline passes.

Polling is not retrying. A check answers "here it is", "not yet" (returns None or raises
`NotReadyError`) or fails. A transient failure that outlived the client's own retries (an
outage) counts as "not yet": the wait keeps polling through it until its own deadline,
which nothing restarts. Any other failure propagates at once. The trap this module guards
against is the unbounded wait: a bot that used a streaming-only transcription provider
answers 202 forever, so every wait has a deadline and ends with a `WaitTimeoutError` that
says what it waited for, what it last saw and for how long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from meetstream_catalog.meetstream.errors import (
    MeetStreamError,
    NotReadyError,
    WaitTimeoutError,
    is_transient,
)

T = TypeVar("T")


async def wait_until(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,  # noqa: ASYNC109 - a poll deadline, not a cancel scope (see docstring)
    what: str,
    initial_interval: float = 2.0,
    max_interval: float = 30.0,
    factor: float = 1.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Call `check` until it returns a value; return that value.

    `timeout` is a deadline, not `asyncio.timeout`: cancelling a check mid-request would lose
    the state last seen, which the WaitTimeoutError must report.

    Between checks the interval grows from `initial_interval` by `factor` up to
    `max_interval`; the last sleep is cut short so one final check happens at the deadline.

    Raises:
        WaitTimeoutError: `timeout` seconds passed without a value.
        Any other error of `check`, unchanged and at once.
    """
    if timeout <= 0 or initial_interval <= 0 or max_interval < initial_interval or factor < 1:
        raise ValueError("need timeout > 0, 0 < initial_interval <= max_interval and factor >= 1")
    started = clock()
    deadline = started + timeout
    interval = initial_interval
    checks = 0
    while True:
        checks += 1
        try:
            result = await check()
            last_seen = "no answer yet"
        except NotReadyError as exc:
            result, last_seen = None, exc.describe()
        except MeetStreamError as exc:
            if not is_transient(exc):
                raise
            result, last_seen = None, f"the API failing: {exc}"
        if result is not None:
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            waited = clock() - started
            raise WaitTimeoutError(
                f"Gave up waiting for {what} after {waited:.0f}s "
                f"(timeout {timeout:.0f}s, {checks} checks); last seen: {last_seen}",
                what=what,
                last_seen=last_seen,
                waited_seconds=waited,
            )
        await sleep(min(interval, remaining))
        interval = min(interval * factor, max_interval)
