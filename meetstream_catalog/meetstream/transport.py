"""How a MeetStream request travels: the one retry loop, and decoding what comes back.

`Transport.send` makes one API request with the `Token` auth header and retries it while the
failure is transient (timeouts, dropped connections, 408, 429, 500/502/503/504) and the
`RetryPolicy`'s time budget (the outage tolerance, 30 minutes by default) allows, with
exponential backoff and full jitter, honouring a capped `Retry-After`. The media download
(`meetstream_catalog.archive`) asks the same policy, so every transient failure of a capture is retried
in exactly one place, by one rule; Prefect task retries do not repeat it. Everything else
surfaces at once as a typed error from `meetstream_catalog.meetstream.errors`.
`request_json`, `decode_json` and `parse` turn an answer into data, or raise
`UnexpectedResponseError`. The endpoints and the waits are `meetstream_catalog.meetstream.client`.

Traps guarded against:
- the auth scheme is `Authorization: Token <key>`; `Bearer` gets 401;
- 202 is inside 2xx but means "not ready", while 507 on create_bot is an idempotent replay
  and therefore a success;
- a request sent with `retry=False` (a create without an idempotency or deduplication key)
  is never retried: a dropped answer may hide a bot that was created;
- the API key and presigned URLs never reach a log line or an exception text: bodies are
  excerpted with the key redacted, and validation errors name fields, never values.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TypeVar

import httpx
from pydantic import ValidationError

from meetstream_catalog.meetstream.errors import (
    APIConnectionError,
    APITimeoutError,
    MeetStreamError,
    UnexpectedResponseError,
    error_from_response,
    excerpt,
    is_transient,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[object]]

CHECK_URL = "check MEETSTREAM_API_URL points at the MeetStream API (.../api/v1)"


def _user_agent() -> str:
    try:
        return f"meetstream-catalog/{metadata.version('meetstream-catalog')}"
    except metadata.PackageNotFoundError:
        return "meetstream-catalog/0+unknown"


_USER_AGENT = _user_agent()


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a transiently failed request again: within `budget_seconds` of the first
    try (and `max_attempts`, if set), after a jittered exponential backoff or the server's
    `Retry-After` (capped)."""

    budget_seconds: float = 1800.0
    max_attempts: int | None = None
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    retry_after_cap: float = 300.0

    def __post_init__(self) -> None:
        if (
            (self.max_attempts is not None and self.max_attempts < 1)
            or self.budget_seconds <= 0
            or self.backoff_base <= 0
            or self.backoff_cap <= 0
        ):
            raise ValueError("retry policy needs max_attempts >= 1 and positive times")

    def delay(
        self, attempt: int, elapsed: float, retry_after: float | None, rng: random.Random
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None when the budget is spent."""
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            delay = min(retry_after, self.retry_after_cap)
        else:
            # Full jitter: spreads the retries of many workers hit by the same outage.
            ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
            delay = rng.uniform(0, ceiling)
        return None if elapsed + delay > self.budget_seconds else delay


class Transport:
    """Sends requests to one base URL through an `httpx.AsyncClient` it does not own."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        *,
        policy: RetryPolicy,
        timeout: httpx.Timeout | None,
        sleep: Sleep,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._http = http
        self._base_url = base_url
        self._policy = policy
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._rng = rng

    async def send(
        self,
        op: str,
        method: str,
        path: str,
        *,
        key: str,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """One request, retried while the failure is transient and the budget allows.

        Returns a successful response; raises the typed MeetStreamError of the last failure.
        """
        all_headers = {
            "Authorization": f"Token {key}",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
            **(headers or {}),
        }
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            cause: Exception | None = None
            try:
                response = await self._http.request(
                    method,
                    self._base_url + path,
                    json=json,
                    headers=all_headers,
                    timeout=self._timeout or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TimeoutException as exc:
                error: MeetStreamError = APITimeoutError(f"{op}: {type(exc).__name__}")
                cause = exc
            except httpx.TransportError as exc:
                error, cause = APIConnectionError(f"{op}: {type(exc).__name__}"), exc
            except httpx.RequestError as exc:  # decoding errors, redirect loops: not transient
                raise UnexpectedResponseError(f"{op}: {type(exc).__name__}; {CHECK_URL}") from exc
            else:
                if _succeeded(response.status_code, replay_ok=op == "create_bot"):
                    return response
                error = error_from_response(response, key)
            elapsed = self._clock() - started
            delay = None
            if retry and is_transient(error):
                delay = self._policy.delay(attempt, elapsed, error.retry_after, self._rng)
            if delay is None:
                if attempt > 1:
                    raise _gave_up(error, f"{method} {path}", attempt, elapsed) from cause
                raise error from cause
            logger.warning(
                "MeetStream %s failed (%s, HTTP %s); try %d again in %.1fs (%.0fs of %.0fs "
                "outage tolerance used)",
                op,
                type(error).__name__,
                error.status_code,
                attempt + 1,
                delay,
                elapsed,
                self._policy.budget_seconds,
            )
            await self._sleep(delay)

    async def request_json(
        self,
        op: str,
        method: str,
        path: str,
        *,
        key: str,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> tuple[int, object]:
        """`send`, then the status code and the decoded JSON body (see `decode_json`)."""
        response = await self.send(
            op, method, path, key=key, json=json, headers=headers, retry=retry
        )
        return response.status_code, decode_json(response, op, (key,))


def _gave_up(error: MeetStreamError, what: str, attempts: int, elapsed: float) -> MeetStreamError:
    """The last error, its message saying which call failed, how often and for how long."""
    return type(error)(
        f"{what} kept failing for {elapsed:.0f}s ({attempts} tries; "
        f"MEETSTREAM_OUTAGE_TOLERANCE_SECONDS sets how long to keep trying): {error.message}",
        status_code=error.status_code,
        body_excerpt=error.body_excerpt,
        request_id=error.request_id,
        retry_after=error.retry_after,
    )


def _succeeded(status: int, *, replay_ok: bool) -> bool:
    # 202 is 2xx but "not ready"; 507 is only a success as create_bot's idempotent replay.
    return (200 <= status < 300 and status != 202) or (replay_ok and status == 507)


def decode_json(response: httpx.Response, op: str, secrets: tuple[str, ...]) -> object:
    """The JSON body. Raises UnexpectedResponseError (body excerpted, `secrets` redacted)."""
    text = response.text
    if text.strip():
        try:
            parsed: object = response.json()
        except ValueError:
            pass
        else:
            return parsed
    kind = (
        "an empty body"
        if not text.strip()
        else "an HTML page"
        if text.lstrip().startswith("<")
        else "invalid or truncated JSON"
    )
    raise UnexpectedResponseError(
        f"{op}: the API answered HTTP {response.status_code} with {kind}; {CHECK_URL}",
        status_code=response.status_code,
        body_excerpt=excerpt(text, *secrets),
        request_id=response.headers.get("x-request-id"),
    )


def parse(validate: Callable[[object], T], data: object, op: str) -> T:
    """Validate an answer; a shape error names the fields, never the values (they hold URLs)."""
    try:
        return validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3]
        )
        # `from None`: the ValidationError's own text quotes the input, presigned URLs included.
        raise UnexpectedResponseError(
            f"{op}: the answer does not have the expected shape ({problems}); {CHECK_URL}"
        ) from None
