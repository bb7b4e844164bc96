"""Who may post to the receiver: MeetStream's signature, or the per-bot token we issued.

MeetStream signs deliveries with the dashboard's secret (`X-MeetStream-Signature`,
HMAC-SHA256 of the raw body), but its own sources disagree on whether per-bot
`callback_url` deliveries are signed at all (docs/meetstream-api.md, section 8). The
product writes every `callback_url` itself, so it puts proof in it: the create call's
idempotency key (the `request` query parameter, the key the catalog's `intents` and
`bots.request_id` record) and `token` = HMAC-SHA256(token key, that key). A delivery is
authentic when it carries a valid signature OR a valid token; nothing else gets in.

What a token proves is "we issued this URL for request K", not which bot is K's (the bot
id is unknown when the URL is built): the receiver still checks in the catalog that the bot
a delivery names is K's before that delivery can start any work (`webhooks.app`).

Traps guarded against: comparing in variable time (`hmac.compare_digest` throughout);
a key rotation that strands every bot still in a meeting (tokens under the previous key
stay valid while it is configured); and leaking the token, a bearer credential for its
bot's events: it lives only in the URL sent to MeetStream, never in a log line (the
`token` parameter is one that `redaction.redact` removes), an event, an artifact or a row.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REQUEST_PARAM", "TOKEN_PARAM", "callback_url", "make_token", "signature_ok", "token_ok"]

REQUEST_PARAM = "request"
TOKEN_PARAM = "token"  # noqa: S105 - a parameter name, not a secret
# Binds a token to this use, so the key's HMAC of the same text can never serve elsewhere.
_PURPOSE = "meetstream-callback-v1:"


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`header` is `sha256=<hex>` (or bare hex) of HMAC-SHA256(secret, body)."""
    if not header:
        return False
    given = header.strip().removeprefix("sha256=").strip().lower()
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())


def make_token(token_key: str, request_key: str) -> str:
    """The token of the callback URL for the bot created with idempotency key `request_key`."""
    message = (_PURPOSE + request_key).encode()
    return hmac.new(token_key.encode(), message, hashlib.sha256).hexdigest()


def token_ok(token_keys: Sequence[str], request_key: str, token: str) -> bool:
    """`token` is `request_key`'s under any of `token_keys` (current, then previous)."""
    given = token.strip().lower().encode()
    return any(hmac.compare_digest(given, make_token(k, request_key).encode()) for k in token_keys)


def callback_url(base: str, request_key: str, token_key: str) -> str:
    """`base` (the receiver's public URL) with the request key and its token as query
    parameters; any query `base` already has is kept."""
    parts = urlsplit(base)
    query = [
        *parse_qsl(parts.query, keep_blank_values=True),
        (REQUEST_PARAM, request_key),
        (TOKEN_PARAM, make_token(token_key, request_key)),
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))
