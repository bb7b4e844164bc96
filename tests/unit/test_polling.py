"""The bounded wait: returns the value, backs off, treats "not ready" as not yet, gives up
with a message that says why, and lets every failure through at once (transient ones were
the client's to retry: polling them again would stack a second retry on the first)."""

from __future__ import annotations

import pytest

from meetstream_catalog.meetstream.errors import (
    MeetStreamError,
    NotFoundError,
    NotReadyError,
    ServerError,
    WaitTimeoutError,
)
from meetstream_catalog.meetstream.polling import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_returns_the_first_value() -> None:
    clock = Clock()
    answers = iter([None, None, "ready"])

    async def check() -> str | None:
        return next(answers)

    result = await wait_until(check, timeout=60, what="x", clock=clock, sleep=clock.sleep)
    assert result == "ready"
    assert clock.sleeps == [2.0, 3.0]


async def test_backoff_grows_by_factor_up_to_the_cap() -> None:
    clock = Clock()

    async def never() -> None:
        return None

    with pytest.raises(WaitTimeoutError):
        await wait_until(
            never,
            timeout=100,
            what="x",
            initial_interval=2,
            max_interval=10,
            factor=2,
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps[:5] == [2, 4, 8, 10, 10]
    assert sum(clock.sleeps) == pytest.approx(100)  # the last sleep is cut to the deadline


async def test_not_ready_error_means_not_yet_and_its_state_is_reported() -> None:
    clock = Clock()

    async def processing() -> str:
        raise NotReadyError("Audio streams are still being processed.", status_code=202)

    with pytest.raises(WaitTimeoutError) as caught:
        await wait_until(
            processing, timeout=30, what="audio streams of bot b1", clock=clock, sleep=clock.sleep
        )
    error = caught.value
    assert "audio streams of bot b1" in str(error)
    assert "after 30s" in str(error)
    assert "still being processed" in str(error)
    assert error.waited_seconds == pytest.approx(30)
    assert error.what == "audio streams of bot b1"


@pytest.mark.parametrize(
    "error",
    [
        NotFoundError("Bot not found.", status_code=404),
        ServerError("Service unavailable (the client's retries ran out).", status_code=503),
    ],
)
async def test_a_failure_propagates_at_once(error: MeetStreamError) -> None:
    clock = Clock()
    calls = 0

    async def failing() -> str:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await wait_until(failing, timeout=600, what="x", clock=clock, sleep=clock.sleep)
    assert calls == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "bad", [{"timeout": 0}, {"initial_interval": 0}, {"factor": 0.5}, {"max_interval": 0.1}]
)
async def test_rejects_nonsense_settings(bad: dict[str, float]) -> None:
    async def check() -> int:
        return 1

    options: dict[str, float] = {"timeout": 10} | bad
    with pytest.raises(ValueError, match="timeout"):
        await wait_until(check, what="x", **options)
