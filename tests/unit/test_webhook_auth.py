"""Callback tokens (make, verify, rotate), their redaction, and a receiver with no key."""

from __future__ import annotations

import argparse
import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from meetstream_catalog.redaction import RedactingFilter, redact, redact_link
from meetstream_catalog.webhooks.auth import callback_url, make_token, token_ok

KEY, OLD, OTHER = "tk_current", "tk_previous", "tk_someone_elses"
BASE = "https://hooks.example.com/webhooks/meetstream"


def test_a_callback_url_carries_the_request_key_and_its_token() -> None:
    url = callback_url(BASE, "key-1", KEY)

    query = parse_qs(urlsplit(url).query)
    assert url.startswith(BASE + "?")
    assert query == {"request": ["key-1"], "token": [make_token(KEY, "key-1")]}
    assert token_ok([KEY], "key-1", query["token"][0])


def test_a_query_the_receivers_url_already_has_is_kept() -> None:
    query = parse_qs(urlsplit(callback_url(BASE + "?tenant=a", "k", KEY)).query)
    assert query["tenant"] == ["a"]
    assert set(query) == {"tenant", "request", "token"}


def test_a_token_is_bound_to_its_request_key_and_its_key() -> None:
    token = make_token(KEY, "key-1")

    assert len(token) == 64
    assert token != make_token(KEY, "key-2")
    assert token != make_token(OTHER, "key-1")
    assert not token_ok([KEY], "key-2", token)
    assert not token_ok([OTHER], "key-1", token)
    assert not token_ok([KEY], "key-1", token[:-1])
    assert not token_ok([], "key-1", token)
    assert token_ok([KEY], "key-1", token.upper())  # hex: case does not matter


def test_after_a_rotation_tokens_under_both_keys_pass_until_the_old_one_is_dropped() -> None:
    before, after = make_token(OLD, "k"), make_token(KEY, "k")

    assert token_ok([KEY, OLD], "k", before)
    assert token_ok([KEY, OLD], "k", after)
    assert not token_ok([KEY], "k", before)  # the grace period is over


@pytest.mark.parametrize(
    "text",
    [
        "POST /webhooks/meetstream?request=k1&token={t} HTTP/1.1",  # an access log line
        # The name percent-encoded: the receiver decodes it, so must the log rule.
        '127.0.0.1:5 - "POST /webhooks/meetstream?request=k1&tok%65n={t} HTTP/1.1" 401',
        "callback {url} refused",  # a full URL in an error
        "sent to {url}&x=1",
    ],
)
def test_the_token_never_survives_redaction(text: str) -> None:
    token = make_token(KEY, "k1")
    line = text.format(t=token, url=callback_url(BASE, "k1", KEY))

    assert token not in redact(line)
    assert token not in redact_link(callback_url(BASE, "k1", KEY))


def test_the_log_filter_cleans_access_log_arguments_and_keeps_their_shape() -> None:
    token = make_token(KEY, "k1")
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", f"/webhooks/meetstream?request=k1&token={token}", "1.1", 200),
        None,
    )  # fmt: skip

    RedactingFilter().filter(record)

    assert isinstance(record.args, tuple)  # uvicorn's access formatter unpacks them
    assert len(record.args) == 5
    assert token not in record.getMessage()
    assert "/webhooks/meetstream?<redacted> HTTP/1.1" in record.getMessage()


def test_the_receiver_refuses_to_start_without_any_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meetstream_catalog.webhooks import server

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    parser = argparse.ArgumentParser()
    server.add_arguments(parser)

    status = server.run(parser.parse_args([]))

    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert "MEETSTREAM_WEBHOOK_TOKEN_KEY" in err
    assert "--insecure-accept-unsigned" in err
