"""Bounded waiting: poll a check until it yields a value or a monotonic deadline passes, and
the client's waits built on it (`Waits`, mixed into `MeetStreamClient`).

Polling is not retrying. A check answers "here it is", "not yet" (returns None or raises
`NotReadyError`) or fails, and every failure propagates at once: a transient one has
already been retried by the client within the outage tolerance (`meetstream_catalog.retry`),
so polling through it again would stack a second retry on the first. Traps guarded against:
- the unbounded wait: a bot that used a streaming-only transcription provider answers 202
  forever, so every wait has a deadline and ends with a `WaitTimeoutError` that says what it
  waited for, what it last saw and for how long;
- a deadline that restarts: nothing here is retried, so no retry can restart a wait.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from meetstream_catalog.meetstream.bot import BotStatus
from meetstream_catalog.meetstream.errors import NotReadyError, WaitTimeoutError
from meetstream_catalog.meetstream.models import AudioManifest, VideoManifest
from meetstream_catalog.meetstream.timeline import SpeakerTimeline
from meetstream_catalog.meetstream.transcripts import Transcript

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[object]]


async def wait_until(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,  # noqa: ASYNC109 - a poll deadline, not a cancel scope (see docstring)
    what: str,
    initial_interval: float = 2.0,
    max_interval: float = 30.0,
    factor: float = 1.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
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


class Waits(abc.ABC):
    """The client's bounded waits, each polling one endpoint with `wait_until` on the
    client's `_clock` and `_sleep`. Every one raises WaitTimeoutError at its deadline."""

    _clock: Callable[[], float]
    _sleep: Sleep

    @abc.abstractmethod
    async def get_status(self, bot_id: str) -> BotStatus: ...

    @abc.abstractmethod
    async def get_audio_streams(self, bot_id: str) -> AudioManifest: ...

    @abc.abstractmethod
    async def get_recording_streams(self, bot_id: str) -> VideoManifest: ...

    @abc.abstractmethod
    async def get_speaker_timeline(self, bot_id: str) -> SpeakerTimeline: ...

    @abc.abstractmethod
    async def get_transcript(self, transcript_id: str, *, raw: bool = False) -> Transcript: ...

    async def wait_until_left(
        self,
        bot_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - a poll deadline, see wait_until
        initial_interval: float = 5.0,
        max_interval: float = 75.0,
        on_status: Callable[[BotStatus], None] | None = None,
    ) -> BotStatus:
        """Poll status until the bot has left the meeting.

        The defaults (5 s growing to 75 s, the settings' defaults) cost at most one status
        call per meeting-minute on average from a 30-minute meeting on, and notice the exit
        at most `max_interval` seconds after it happened (see docs/benchmarks.md, Fleet).
        `on_status` is called with every status polled (a caller reports changes, and a
        heartbeat while nothing changes).
        """

        async def check() -> BotStatus:
            status = await self.get_status(bot_id)
            if on_status is not None:
                on_status(status)
            if status.state.has_left:
                return status
            raise NotReadyError(f"status {status.status or 'missing'}")

        what = f"bot {bot_id} to leave the meeting"
        return await self._wait(check, what, timeout, (initial_interval, max_interval))

    async def wait_for_audio_streams(
        self,
        bot_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - a poll deadline, see wait_until
        initial_interval: float = 5.0,
        max_interval: float = 75.0,
    ) -> AudioManifest:
        """Poll get_audio_streams while it answers "not ready"."""
        check, what = partial(self.get_audio_streams, bot_id), f"audio streams of bot {bot_id}"
        return await self._wait(check, what, timeout, (initial_interval, max_interval))

    async def wait_for_recording_streams(
        self,
        bot_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - a poll deadline, see wait_until
        initial_interval: float = 5.0,
        max_interval: float = 75.0,
    ) -> VideoManifest:
        """Poll get_recording_streams while it answers "not ready"."""
        check, what = partial(self.get_recording_streams, bot_id), f"video streams of bot {bot_id}"
        return await self._wait(check, what, timeout, (initial_interval, max_interval))

    async def wait_for_speaker_timeline(
        self,
        bot_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - a poll deadline, see wait_until
        initial_interval: float = 5.0,
        max_interval: float = 75.0,
    ) -> SpeakerTimeline:
        """Poll get_speaker_timeline while it answers "not ready"."""
        check = partial(self.get_speaker_timeline, bot_id)
        what = f"speaker timeline of bot {bot_id}"
        return await self._wait(check, what, timeout, (initial_interval, max_interval))

    async def wait_for_transcript(
        self,
        transcript_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - a poll deadline, see wait_until
        initial_interval: float = 5.0,
        max_interval: float = 75.0,
    ) -> Transcript:
        """Poll get_transcript while it answers "not ready" (202). Bounded on purpose: a
        transcript that never finishes answers 202 for ever."""
        check = partial(self.get_transcript, transcript_id)
        what = f"transcript {transcript_id}"
        return await self._wait(check, what, timeout, (initial_interval, max_interval))

    async def _wait(
        self,
        check: Callable[[], Awaitable[T]],
        what: str,
        timeout: float,  # noqa: ASYNC109 - a poll deadline, see wait_until
        every: tuple[float, float],
    ) -> T:
        return await wait_until(
            check,
            timeout=timeout,
            what=what,
            initial_interval=every[0],
            max_interval=every[1],
            clock=self._clock,
            sleep=self._sleep,
        )
