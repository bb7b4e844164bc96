"""Typed errors: mapping, transience, redaction, Retry-After parsing."""

from __future__ import annotations

import email.utils
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from meetstream_catalog.meetstream import errors
from meetstream_catalog.meetstream.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    MeetStreamError,
    NotFoundError,
    NotReadyError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    WaitTimeoutError,
    error_from_response,
    is_transient,
    parse_retry_after,
)
from meetstream_catalog.redaction import redact

PRESIGNED = (
    "https://bucket.s3.amazonaws.com/bots/b1/Jane_0.webm"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeef"
)


def test_redact_strips_query_strings_of_urls() -> None:
    text = redact(f"download failed for {PRESIGNED} (expired)")
    assert "bucket.s3.amazonaws.com/bots/b1/Jane_0.webm?<redacted>" in text
    assert "X-Amz" not in text
    assert "deadbeef" not in text
    assert text.endswith("(expired)")


def test_redact_strips_amz_params_outside_urls_and_given_secrets() -> None:
    text = redact("X-Amz-Signature=abc123&x=1 key=sekrit-value", "sekrit-value")
    assert "abc123" not in text
    assert "sekrit-value" not in text


def test_redact_strips_echoed_authorization_values() -> None:
    assert "abcdef0123456789" not in redact("Authorization: Token abcdef0123456789")


def test_every_error_redacts_its_message_even_when_built_directly() -> None:
    error = MeetStreamError(f"bad {PRESIGNED}", body_excerpt=PRESIGNED)
    assert "deadbeef" not in str(error)
    assert "deadbeef" not in repr(error)
    assert "deadbeef" not in (error.body_excerpt or "")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (APITimeoutError("t"), True),
        (APIConnectionError("c"), True),
        (APITimeoutError("408", status_code=408), True),
        (RateLimitError("429", status_code=429), True),
        (ServerError("500", status_code=500), True),
        (ServerError("503", status_code=503), True),
        (ServerError("501", status_code=501), False),
        (ServerError("507", status_code=507), False),
        (BadRequestError("400", status_code=400), False),
        (NotFoundError("404", status_code=404), False),
        (ConflictError("409", status_code=409), False),
        (NotReadyError("202", status_code=202), False),
        (UnexpectedResponseError("html"), False),
        (WaitTimeoutError("w", what="x", last_seen="y", waited_seconds=1), False),
        (ValueError("not ours"), False),
    ],
)
def test_is_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


@pytest.mark.parametrize("key", ["message", "detail", "error"])
def test_error_message_comes_from_message_detail_or_error(key: str) -> None:
    error = error_from_response(httpx.Response(400, json={key: "meeting_link is required."}))
    assert isinstance(error, BadRequestError)
    assert error.message == "meeting_link is required."


def test_error_carries_request_id_and_a_short_excerpt() -> None:
    response = httpx.Response(
        500, text="<html>" + "x" * 5000 + "</html>", headers={"x-request-id": "req-42"}
    )
    error = error_from_response(response)
    assert isinstance(error, ServerError)
    assert error.request_id == "req-42"
    assert "request id req-42" in str(error)
    assert len(error.body_excerpt or "") <= 200
    assert "MEETSTREAM_API_URL" in error.message


def test_not_ready_carries_stage_and_status() -> None:
    body = {"video_status": "in_progress", "stage": "splitting", "message": "Still processing."}
    error = error_from_response(httpx.Response(202, json=body))
    assert isinstance(error, NotReadyError)
    assert (error.stage, error.status) == ("splitting", "in_progress")
    assert error.describe() == "status in_progress, stage splitting"


def test_error_body_secrets_are_scrubbed() -> None:
    response = httpx.Response(403, json={"message": "Invalid token my-secret-key-123"})
    error = error_from_response(response, "my-secret-key-123")
    assert "my-secret-key-123" not in str(error)
    assert "my-secret-key-123" not in (error.body_excerpt or "")


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    future = datetime.now(UTC) + timedelta(seconds=120)
    parsed = parse_retry_after(email.utils.format_datetime(future, usegmt=True))
    assert parsed is not None
    assert 100 < parsed <= 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_no_error_class_shadows_a_builtin() -> None:
    import builtins

    names = {name for name in vars(errors) if isinstance(getattr(errors, name), type)}
    assert not names & set(dir(builtins))


async def test_httpx_request_logs_never_carry_presigned_urls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import meetstream_catalog.archive  # noqa: F401 - importing the archive installs the log guard

    url = "https://bucket.s3.amazonaws.com/a.webm?X-Amz-Expires=600&X-Amz-Signature=deadbeef42"
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"x"))
    caplog.set_level(logging.INFO, logger="httpx")
    async with httpx.AsyncClient(transport=transport) as http:
        await http.get(url)
    assert "HTTP Request: GET https://bucket.s3.amazonaws.com/a.webm" in caplog.text
    assert "deadbeef42" not in caplog.text
