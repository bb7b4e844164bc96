"""How a MeetStream request travels: the one place its transient failures are retried, and
decoding what comes back.

`Transport.send` makes one API request with the `Token` auth header. Timeouts, dropped
connections, 408, 429 and 500/502/503/504 are tried again through `meetstream_catalog.retry`
(full jitter, a capped `Retry-After`) until the outage tolerance (the settings'
`outage_tolerance_seconds`, 30 minutes by default) is spent; the media download uses the same
primitive and budget, and Prefect task retries do not repeat either. Everything else
surfaces at once as a typed error from `meetstream_catalog.meetstream.errors`.
`request_json`, `decode_json` and `parse` turn an answer into data, or raise
`UnexpectedResponseError`. The endpoints are `meetstream_catalog.meetstream.client`.

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

from collections.abc import Callable, Mapping
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
from meetstream_catalog.retry import Backoff, Spent, retrying_async

T = TypeVar("T")

CHECK_URL = "check MEETSTREAM_API_URL points at the MeetStream API (.../api/v1)"
# 0.5 s doubling to a minute: the end of an outage is seen within a minute of it.
API_BACKOFF = Backoff(initial=0.5, cap=60.0, retry_after_cap=300.0)


def _user_agent() -> str:
    try:
        return f"meetstream-catalog/{metadata.version('meetstream-catalog')}"
    except metadata.PackageNotFoundError:
        return "meetstream-catalog/0+unknown"


_USER_AGENT = _user_agent()


class Transport:
    """Sends requests to one base URL through an `httpx.AsyncClient` it does not own, retrying
    transient failures for up to `budget` seconds."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        *,
        budget: float,
        backoff: Backoff = API_BACKOFF,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url
        self._budget = budget
        self._backoff = backoff
        self._timeout = timeout

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

        async def once() -> httpx.Response:
            try:
                response = await self._http.request(
                    method,
                    self._base_url + path,
                    json=json,
                    headers=all_headers,
                    timeout=self._timeout or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TimeoutException as exc:
                raise APITimeoutError(f"{op}: {type(exc).__name__}") from exc
            except httpx.TransportError as exc:
                raise APIConnectionError(f"{op}: {type(exc).__name__}") from exc
            except httpx.RequestError as exc:  # decoding errors, redirect loops: not transient
                raise UnexpectedResponseError(f"{op}: {type(exc).__name__}; {CHECK_URL}") from exc
            if _succeeded(response.status_code, replay_ok=op == "create_bot"):
                return response
            raise error_from_response(response, key)

        def transient(error: Exception) -> bool | float:
            if not (retry and isinstance(error, MeetStreamError) and is_transient(error)):
                return False
            return True if error.retry_after is None else error.retry_after

        def gave_up(error: Exception, spent: Spent) -> None:
            if spent.tries > 1 and isinstance(error, MeetStreamError):
                # `from` the transport's own exception, as a first failure would have it.
                raise _gave_up(error, f"{method} {path}", spent) from error.__cause__

        return await retrying_async(
            once,
            on=transient,
            budget=self._budget,
            what=f"MeetStream {op}",
            backoff=self._backoff,
            gave_up=gave_up,
        )

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


def _gave_up(error: MeetStreamError, what: str, spent: Spent) -> MeetStreamError:
    """The last error, its message saying which call failed, how often and for how long."""
    return type(error)(
        f"{what} kept failing for {spent.seconds:.0f}s ({spent.tries} tries; "
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
