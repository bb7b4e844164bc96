"""Typed errors of the MeetStream client, and the one mapping from an HTTP answer to them.

Every error says what the caller should do (its docstring) and carries the HTTP status, the
`x-request-id` and a short, redacted excerpt of the body. The trap this module guards
against is leaking credentials through error text: MeetStream answers contain presigned S3
URLs (bearer credentials for 10 minutes) and a misconfigured proxy may echo the
`Authorization` header. So every message and excerpt passes through
`meetstream_catalog.redaction.redact`, and the client adds its API key to the values to scrub.

`is_transient` is the single definition of "worth trying again": the transport's hook into
`meetstream_catalog.retry` uses it, and anything that must tell an outage from a permanent
failure (a `retry_condition_fn`, a report) asks it too, so they agree on what is permanent.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from datetime import UTC, datetime

import httpx

from meetstream_catalog.redaction import redact

# The statuses a retry can fix. 501 and 507 are 5xx but permanent (507 on create_bot is
# even a success); every other 4xx means the request itself must change.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_EXCERPT_CHARS = 200
# "No video processing has been initiated", "processing not started", ...
_NOT_STARTED = re.compile(
    r"\bno\b.*\bprocessing\b.*\b(initiated|started)\b"
    r"|\bprocessing\b.*\bnot\b.*\b(initiated|started)\b",
    re.IGNORECASE | re.DOTALL,
)


class MeetStreamError(Exception):
    """Base of every error the MeetStream client raises. Catch this to handle them all."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body_excerpt: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        # Redact here too, so no subclass or caller can build an error that leaks a URL.
        self.message = redact(message)
        self.status_code = status_code
        self.body_excerpt = redact(body_excerpt) if body_excerpt is not None else None
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(self.message)

    def __str__(self) -> str:
        facts = [f"HTTP {self.status_code}"] if self.status_code is not None else []
        if self.request_id:
            facts.append(f"request id {self.request_id}")
        return f"{self.message} ({', '.join(facts)})" if facts else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, message={self.message!r})"


class NotReadyError(MeetStreamError):
    """Not ready yet (202, or 404 "processing not initiated"): poll again, with a deadline.

    `stage` and `status` hold the processing step and status the API reported, if any.
    """

    stage: str | None = None
    status: str | None = None

    def describe(self) -> str:
        """A short "what was last seen" text for wait-timeout messages."""
        parts = [f"{k} {v}" for k, v in (("status", self.status), ("stage", self.stage)) if v]
        return ", ".join(parts) or self.message


class BadRequestError(MeetStreamError):
    """400: the request is invalid (the message names the field). Fix it; do not retry."""


class AuthenticationError(MeetStreamError):
    """401: no or malformed Authorization header. Check MEETSTREAM_API_KEY is set."""


class PermissionDeniedError(MeetStreamError):
    """403: the key is wrong or revoked, or the bot belongs to another account. Do not retry."""


class NotFoundError(MeetStreamError):
    """404: unknown, deleted or expired bot id (or wrong route). Do not retry."""


class ConflictError(MeetStreamError):
    """409: deduplication_key reused for another meeting, or bot not in meeting. Do not retry
    with the same key; pick a new key only if a second bot is really wanted."""


class RateLimitError(MeetStreamError):
    """429: throttled. Retry after `retry_after` seconds (the client already did, bounded)."""


class ServerError(MeetStreamError):
    """5xx: server trouble. 500/502/503/504 are transient (the client already retried them);
    others are permanent."""


class APIConnectionError(MeetStreamError):
    """The connection failed or dropped mid-answer. Transient; the client already retried."""


class APITimeoutError(MeetStreamError):
    """The request timed out (or 408). Transient; the client already retried."""


class UnexpectedResponseError(MeetStreamError):
    """The answer was not the JSON we expect (HTML, truncated, wrong shape). Check that
    MEETSTREAM_API_URL points at the MeetStream API (.../api/v1), not a web page or proxy."""


class WaitTimeoutError(MeetStreamError):
    """A bounded wait gave up. `what`, `last_seen` and `waited_seconds` say why; re-run later
    or raise the timeout. Not retried by the client (it is not an HTTP failure)."""

    def __init__(self, message: str, *, what: str, last_seen: str, waited_seconds: float) -> None:
        super().__init__(message)
        self.what = what
        self.last_seen = last_seen
        self.waited_seconds = waited_seconds


def is_transient(exc: BaseException) -> bool:
    """True if trying again later may succeed: timeouts, connection errors, 408, 429, 5xx
    (500/502/503/504)."""
    if isinstance(exc, APITimeoutError | APIConnectionError):
        return True
    return isinstance(exc, MeetStreamError) and exc.status_code in TRANSIENT_STATUSES


_BY_STATUS: dict[int, type[MeetStreamError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: APITimeoutError,
    409: ConflictError,
    429: RateLimitError,
}


def error_from_response(response: httpx.Response, *secrets: str) -> MeetStreamError:
    """Map a non-success answer to its typed error; `secrets` are scrubbed from the text."""
    status = response.status_code
    body = _json_or_none(response.text)
    text = _message_of(body) if body is not None else None
    not_ready = status == 202 or (status == 404 and text and _NOT_STARTED.search(text))
    if not_ready:
        cls: type[MeetStreamError] = NotReadyError
        text = text or "Not ready yet."
    else:
        cls = _BY_STATUS.get(status) or (
            ServerError
            if status >= 500
            # A redirect means the base URL is not the API itself (e.g. a login page).
            else UnexpectedResponseError
            if 300 <= status < 400
            else MeetStreamError
        )
    if text is None:
        # An error page instead of JSON usually means a wrong base URL or a proxy in between.
        text = f"HTTP {status} with a non-JSON body; check MEETSTREAM_API_URL points at the API"
    error = cls(
        redact(text, *secrets),
        status_code=status,
        body_excerpt=excerpt(response.text, *secrets),
        request_id=response.headers.get("x-request-id"),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )
    if isinstance(error, NotReadyError) and isinstance(body, dict):
        error.stage = _str_or_none(body.get("stage"))
        error.status = _str_or_none(
            body.get("audio_status") or body.get("video_status") or body.get("status")
        )
    return error


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def excerpt(text: str, *secrets: str) -> str | None:
    """A short, one-line, redacted excerpt of a response body (None if empty)."""
    # Redact before cutting, so a cut cannot leave half a secret the patterns no longer match.
    return " ".join(redact(text[:100_000], *secrets).split())[:_EXCERPT_CHARS] or None


def _json_or_none(text: str) -> object | None:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def _message_of(body: object) -> str:
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if value:
                return value if isinstance(value, str) else json.dumps(value)[:_EXCERPT_CHARS]
    return "MeetStream API error"


def _str_or_none(value: object) -> str | None:
    return str(value) if value is not None else None
