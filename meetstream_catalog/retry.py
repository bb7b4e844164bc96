"""The one retry primitive: every transient failure (a MeetStream API call, a media download,
a catalog commit) is tried again here, by one rule, or nowhere.

`retrying_async` (and `retrying`, for blocking code such as a delta-rs commit in a worker
thread) calls a function until it returns, until the `on` hook calls its error permanent, or
until the time budget is spent. Between tries it waits with full jitter, exponentially from
`Backoff.initial` up to `Backoff.cap`, or as long as the server asked (`Retry-After`), capped
at `Backoff.retry_after_cap`. The budget runs from the first failure; for API calls and media
it is the settings' `outage_tolerance_seconds`, so an outage shorter than that never fails a
meeting. `set_testing` switches every retry of the process to instant, with one call.

The shape follows stamina (`on=` a backoff hook returning a bool or the seconds to wait;
`set_testing`), which we evaluated and do not use, because in stamina 26.1:
- `timeout` is checked only after a try failed, so the wait that follows (up to a capped
  Retry-After of 300 s) may end past the budget; here a wait that would end past the budget
  is not started, and the call gives up saying how long it tried;
- the jitter is added to the exponential wait and then clamped at `wait_max`, so once at
  the cap every wait is exactly `wait_max` and workers hit by the same outage keep the few
  seconds of spread they drew early (default `wait_jitter=1`: 200 simulated workers put up
  to 91 requests into one second, full jitter 17);
- its test mode replaces the time budget by a number of attempts and zeroes every wait,
  the server's too, so no test could show that a budget or a Retry-After cap holds; here a
  test-mode wait is skipped but still counted on the call's clock, so budgets and caps act
  exactly as in production, instantly (`Testing.waits` lists them).

Traps guarded against:
- stacking: a retried call must not sit inside another retry. The API client retries its
  own calls, so the media download's hook never retries the client's errors, and polling
  (`meetstream_catalog.meetstream.polling`) is not retrying: a wait has its own deadline;
- leaking secrets: the failure text in a retry's log line passes through `redact`;
- overflow: thousands of quick tries (commit conflicts) must not overflow the exponent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from meetstream_catalog.redaction import redact

__all__ = [
    "Backoff",
    "GaveUp",
    "RetryOn",
    "Spent",
    "Testing",
    "retrying",
    "retrying_async",
    "set_testing",
]

T = TypeVar("T")

RetryOn = Callable[[Exception], bool | float]
"""Judges one failure: False, permanent (it propagates at once); True, transient (back off);
a number, transient, and the server asked to wait that many seconds first (Retry-After)."""

logger = logging.getLogger(__name__)
_jitter = random.Random()
_MAX_DOUBLINGS = 64  # 2**64 times any sane `initial` is far past any cap


@dataclass(frozen=True)
class Backoff:
    """How long to wait between tries: full jitter in [0, min(cap, initial * 2**(n-1))]
    after the n-th failure in a row, or the server's requested wait up to `retry_after_cap`."""

    initial: float = 0.5
    cap: float = 60.0
    retry_after_cap: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap or self.retry_after_cap < 0:
            raise ValueError("backoff needs 0 < initial <= cap and retry_after_cap >= 0")

    def wait(self, failures: int, asked: float | None = None) -> float:
        """Seconds to wait after the `failures`-th failure in a row (`asked`: Retry-After)."""
        if asked is not None:
            return min(max(asked, 0.0), self.retry_after_cap)
        ceiling = min(self.cap, self.initial * 2.0 ** min(failures - 1, _MAX_DOUBLINGS))
        return _jitter.uniform(0.0, ceiling)


@dataclass(frozen=True)
class Spent:
    """What a call spent before giving up: tries made, seconds since the first failure."""

    tries: int
    seconds: float
    budget: float


GaveUp = Callable[[Exception, Spent], None]
"""Called with the last error when the budget (or a test's attempts) is spent. Raise from it
to replace the error with one that says so; returning lets the error through unchanged."""


class Testing:
    """Test mode, as `set_testing` returned it; a context manager that restores the mode
    that was in force before."""

    def __init__(self, enabled: bool, attempts: int | None, previous: Testing | None) -> None:
        self.enabled = enabled
        self.attempts = attempts
        self.waits: list[float] = []  # every wait skipped, in order
        self._previous = previous

    def __enter__(self) -> Testing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _testing
        _testing = self._previous


_testing: Testing | None = None


def set_testing(enabled: bool = True, *, attempts: int | None = None) -> Testing:
    """Switch test mode on (or off) for every retry in this process; returns the mode.

    In test mode no wait is slept: each is appended to `Testing.waits` and added to the
    call's clock instead, so a budget runs out after the same waits as in production, at
    once. `attempts` caps the tries of every call (1 switches retrying off). Use it as a
    context manager to restore the previous mode afterwards.
    """
    global _testing
    if attempts is not None and attempts < 1:
        raise ValueError("attempts must be at least 1")
    mode = Testing(enabled, attempts, _testing)
    _testing = mode if enabled else None
    return mode


class _Tries:
    """One call's bookkeeping: how many tries failed, and since when."""

    def __init__(
        self, on: RetryOn, budget: float, what: str, backoff: Backoff, min_tries: int = 1
    ) -> None:
        if budget <= 0:
            raise ValueError("the retry budget must be positive seconds")
        self.on, self.budget, self.what, self.backoff = on, budget, what, backoff
        self.min_tries = min_tries
        self.testing = _testing
        self.failures = 0
        self.first_failure = 0.0
        self.skipped = 0.0  # test-mode waits, counted as if slept

    def wait_after(self, error: Exception, gave_up: GaveUp | None) -> float | None:
        """Seconds to wait before the next try, or None to let `error` through."""
        now = time.monotonic()
        self.failures += 1
        if self.failures == 1:
            self.first_failure = now
        verdict = self.on(error)
        if verdict is False:
            return None
        wait = self.backoff.wait(self.failures, None if verdict is True else float(verdict))
        elapsed = now - self.first_failure + self.skipped
        cap = self.testing.attempts if self.testing is not None else None
        spent = elapsed + wait > self.budget and self.failures >= self.min_tries
        if spent or (cap is not None and self.failures >= cap):
            if gave_up is not None:
                gave_up(error, Spent(self.failures, elapsed, self.budget))
            return None
        reason = redact(f"{type(error).__name__}: {error}")[:300]
        logger.warning(
            "%s failed (%s); try %d in %.1fs (%.0fs of %.0fs retry budget used)",
            self.what, reason, self.failures + 1, wait, elapsed, self.budget,
        )  # fmt: skip
        return wait

    def skip(self, wait: float) -> bool:
        """In test mode: count `wait` as slept and return True."""
        if self.testing is None:
            return False
        self.testing.waits.append(wait)
        self.skipped += wait
        return True


async def retrying_async(
    call: Callable[[], Awaitable[T]],
    *,
    on: RetryOn,
    budget: float,
    what: str,
    backoff: Backoff = Backoff(),  # frozen: one shared default is safe
    gave_up: GaveUp | None = None,
) -> T:
    """Await `call()` until it returns; retry its errors that `on` calls transient while
    `budget` seconds (from the first failure) allow. `what` names the call in log lines.

    Returns what `call` returned. Raises its last error (or what `gave_up` raises).
    """
    tries = _Tries(on, budget, what, backoff)
    while True:
        try:
            return await call()
        except Exception as error:  # `on` judges; what it refuses is re-raised below
            wait = tries.wait_after(error, gave_up)
            if wait is None:
                raise
        if not tries.skip(wait):
            await asyncio.sleep(wait)


def retrying(
    call: Callable[[], T],
    *,
    on: RetryOn,
    budget: float,
    what: str,
    backoff: Backoff = Backoff(),  # frozen: one shared default is safe
    gave_up: GaveUp | None = None,
    min_tries: int = 1,
) -> T:
    """`retrying_async` for blocking code (it sleeps in the calling thread). `min_tries`:
    the budget ends the retries only once this many tries failed (for calls that may each
    take long, such as a commit against a slow store)."""
    tries = _Tries(on, budget, what, backoff, min_tries)
    while True:
        try:
            return call()
        except Exception as error:  # `on` judges; what it refuses is re-raised below
            wait = tries.wait_after(error, gave_up)
            if wait is None:
                raise
        if not tries.skip(wait):
            time.sleep(wait)
