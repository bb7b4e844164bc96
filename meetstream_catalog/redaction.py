"""The one home of redaction: what may never reach a log, an error, an artifact or a row.

MeetStream answers contain presigned S3 URLs (bearer credentials for 10 minutes), a
misconfigured proxy may echo the `Authorization` header, meeting links carry passcodes
(`?pwd=`, `;pwd=`, tokens), and our callback URLs carry a per-bot `token=`. The trap
guarded here is a second, slightly different rule somewhere else that misses one of them:
every caller uses `redact` for free text and `redact_link` for a meeting link it keeps.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*", re.IGNORECASE)
_ANY_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S*")
_AMZ_PARAM = re.compile(r"(X-Amz-[A-Za-z-]+)=[^&\s\"'<>]*", re.IGNORECASE)
_AUTH_VALUE = re.compile(r"\b(Token|Bearer)\s+[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE)
# A query after a bare path, as in a server's access log line ("POST /webhooks/x?... HTTP"):
# the callback URL's token (`webhooks.auth`) is there, its name perhaps percent-encoded.
_PATH_QUERY = re.compile(r"((?:^|[\s\"'(])/[^\s?\"'<>]*)\?(?!<redacted>)[^\s\"'<>]*")


def redact(text: str, *secrets: str, drop_urls: bool = False) -> str:
    """`text` without URL query strings, `X-Amz-*` values, auth tokens or `secrets`;
    with `drop_urls`, every URL becomes `<url>` (for text shown to people, as artifacts)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _URL_QUERY.sub(r"\1?<redacted>", text)
    text = _PATH_QUERY.sub(r"\1?<redacted>", text)
    text = _AMZ_PARAM.sub(r"\1=<redacted>", text)
    text = _AUTH_VALUE.sub(r"\1 ***", text)
    return _ANY_URL.sub("<url>", text) if drop_urls else text


_PRIVATE_IN_PATH = re.compile(r";|%3[fb]|%23", re.IGNORECASE)


def redact_link(url: str) -> str:
    """A meeting link without credentials: user info, the whole query and the fragment.

    Zoom puts the passcode in `?pwd=`, other platforms use `passcode`, `tk`, tokens...;
    dropping every query parameter is the only rule that cannot miss a new one. The
    scheme, host and path (which identify the meeting) are kept. Idempotent.
    """
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # a garbled port is dropped rather than failing the whole record
        port = None
    netloc = f"{host}:{port}" if port else host
    # Some links carry the passcode as a path parameter (`/j/123;pwd=...`), or a query
    # percent-encoded into the path (`/j/123%3Fpwd%3D...`, as links copied through other
    # tools arrive): cut at the first `;`, encoded `?`, `#` or `;`.
    path: str = _PRIVATE_IN_PATH.split(parts.path, maxsplit=1)[0]
    return urlunsplit((parts.scheme, netloc, path, "", ""))


class RedactingFilter(logging.Filter):
    """Rewrites log records so no presigned URL or auth token survives into a log line.

    httpx logs every request line, query string included, at INFO on the `httpx` logger;
    a user who turns logging up to INFO would otherwise print live presigned URLs. The
    webhook receiver's access log would print each callback URL's token.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # Text arguments are cleaned in place first: formatters that unpack `args` (uvicorn's
        # access log) keep working. What is still left (a URL object's text) collapses the
        # record into its cleaned message.
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def guard_http_logs() -> None:
    """Install `RedactingFilter` on httpx's logger (once; safe to call repeatedly)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
