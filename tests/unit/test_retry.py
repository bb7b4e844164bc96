"""The one retry primitive: a budget checked before each wait, full jitter, a capped
Retry-After, permanent errors at once, and a test mode that keeps budgets honest."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meetstream_catalog import retry
from meetstream_catalog.retry import Backoff, Spent, retrying, retrying_async


class Transient(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("try later")
        self.retry_after = retry_after


class Permanent(Exception):
    pass


def transient(error: Exception) -> bool | float:
    if not isinstance(error, Transient):
        return False
    return True if error.retry_after is None else error.retry_after


def failing(errors: list[Exception], result: str = "ok") -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return calls, call


async def test_transient_failures_are_retried_until_the_call_succeeds(retries) -> None:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise Transient
        return "ok"

    assert await retrying_async(call, on=transient, budget=60, what="x") == "ok"
    assert len(calls) == 4
    assert len(retries.waits) == 3


def test_a_permanent_error_propagates_at_once(retries) -> None:
    calls, call = failing([Permanent("no")])
    with pytest.raises(Permanent):
        retrying(call, on=transient, budget=60, what="x")
    assert len(calls) == 1
    assert retries.waits == []


def test_a_wait_that_would_end_past_the_budget_is_not_started(retries) -> None:
    calls, call = failing([Transient(retry_after=4) for _ in range(10)])
    with pytest.raises(Transient):
        retrying(call, on=transient, budget=10, what="x")
    assert retries.waits == [4.0, 4.0]  # 8 s used; a third 4 s wait would end at 12 s
    assert len(calls) == 3


def test_min_tries_keeps_retrying_past_the_budget_until_that_many_failed(retries) -> None:
    calls, call = failing([Transient(retry_after=4) for _ in range(10)])
    with pytest.raises(Transient):
        retrying(call, on=transient, budget=10, what="x", min_tries=5)
    assert retries.waits == [4.0] * 4  # 16 s, past the 10 s budget: 5 tries failed first
    assert len(calls) == 5


def test_retry_after_is_honoured_up_to_its_cap(retries) -> None:
    _, call = failing([Transient(retry_after=3), Transient(retry_after=10_000)])
    backoff = Backoff(retry_after_cap=5)
    assert retrying(call, on=transient, budget=60, what="x", backoff=backoff) == "ok"
    assert retries.waits == [3.0, 5.0]


def test_backoff_is_full_jitter_growing_to_the_cap() -> None:
    backoff = Backoff(initial=0.5, cap=60)
    for failures in (1, 2, 5, 8, 30, 10_000):  # no overflow however many tries
        ceiling = min(60, 0.5 * 2 ** min(failures - 1, 64))
        waits = [backoff.wait(failures) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling / 2  # spread over the interval, not pinned to its end


def test_gave_up_replaces_the_error_saying_what_was_spent(retries) -> None:
    _, call = failing([Transient(retry_after=30) for _ in range(10)])
    seen: list[Spent] = []

    def gave_up(error: Exception, spent: Spent) -> None:
        seen.append(spent)
        raise RuntimeError(
            f"kept failing for {spent.seconds:.0f}s ({spent.tries} tries)"
        ) from error

    with pytest.raises(RuntimeError, match=r"kept failing for 90s \(4 tries\)"):
        retrying(call, on=transient, budget=100, what="x", gave_up=gave_up)
    assert seen == [Spent(tries=4, seconds=pytest.approx(90, abs=1), budget=100)]


def test_a_gave_up_that_returns_lets_the_error_through(retries) -> None:
    _, call = failing([Transient(retry_after=30) for _ in range(10)])
    with pytest.raises(Transient):
        retrying(call, on=transient, budget=50, what="x", gave_up=lambda e, s: None)


def test_test_mode_can_switch_retrying_off_and_restores_the_mode_before(retries) -> None:
    calls, call = failing([Transient(), Transient()])
    with retry.set_testing(True, attempts=1), pytest.raises(Transient):
        retrying(call, on=transient, budget=60, what="x")
    assert len(calls) == 1
    assert retrying(call, on=transient, budget=60, what="x") == "ok"
    assert len(retries.waits) == 1  # the outer test mode is back


def test_outside_test_mode_waits_are_slept(monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("meetstream_catalog.retry.time.sleep", slept.append)
    _, call = failing([Transient(retry_after=2)])
    with retry.set_testing(False):
        assert retrying(call, on=transient, budget=60, what="x") == "ok"
    assert slept == [2.0]


@pytest.mark.parametrize("bad", [{"initial": 0}, {"initial": 2, "cap": 1}, {"retry_after_cap": -1}])
def test_nonsense_backoffs_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**bad)
