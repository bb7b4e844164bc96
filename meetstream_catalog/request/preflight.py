"""Checks that run before a bot is created: every late failure we can see coming, early.

A bot costs money from the moment it is created, and a capture that fails after the
meeting (a catalog root it cannot write, S3 without credentials) leaves archived media
that no catalog row describes. So before `create_bot` the capture checks: a join time not
in the past, an API that answers the key, and media and catalog roots that accept a write.
Each failure is a `PreflightError` whose message is one line saying what to set.

The trap guarded here is a check that is itself slow or retried: these make one attempt
each, with short timeouts, so a wrong URL fails in seconds, not after a minute of retries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
from fsspec.core import url_to_fs

from meetstream_catalog.redaction import redact
from meetstream_catalog.request.meeting import MeetingRequest, as_utc
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import MissingApiKeyError, Settings

JOIN_GRACE = dt.timedelta(minutes=5)
API_TIMEOUT_SECONDS = 10.0
_PROBE_BOT_ID = "meetstream-catalog-preflight"  # no such bot: an authenticated 404


class PreflightError(ValueError):
    """A capture cannot succeed as configured; the one-line message says what to set."""


def check_join_at(request: MeetingRequest, *, now: dt.datetime | None = None) -> None:
    """Refuse a join time further in the past than a small grace."""
    if request.join_at is None:
        return
    current = as_utc(now or dt.datetime.now(dt.UTC))
    if request.join_at < current - JOIN_GRACE:
        raise PreflightError(
            f"join_at {request.join_at.isoformat()} is in the past: give a future time "
            "(ISO-8601 with a zone) or leave it empty to join now"
        )


async def check_api(settings: Settings, *, http: httpx.AsyncClient | None = None) -> None:
    """One authenticated call: the URL must answer and accept the key.

    A 5xx or 429 passes: the API is there and the capture's own retries ride it out.
    """
    key = _api_key(settings)
    url = f"{settings.api_url.rstrip('/')}/bots/{_PROBE_BOT_ID}/status"
    client = http or httpx.AsyncClient(timeout=API_TIMEOUT_SECONDS)
    try:
        response = await client.get(url, headers={"Authorization": f"Token {key}"})
    except httpx.HTTPError as exc:
        reason = redact(str(exc) or type(exc).__name__, key)
        raise PreflightError(
            f"cannot reach the MeetStream API at {settings.api_url} ({reason}): "
            "check MEETSTREAM_API_URL and the network"
        ) from None
    finally:
        if http is None:
            await client.aclose()
    if response.status_code in (401, 403):
        raise PreflightError(
            f"the MeetStream API at {settings.api_url} refused the API key "
            f"(HTTP {response.status_code}): set MEETSTREAM_API_KEY to a valid key"
        )


def _api_key(settings: Settings) -> str:
    try:
        return settings.require_api_key()
    except MissingApiKeyError as exc:
        raise PreflightError(str(exc)) from None


def check_root(root: Root, *, setting: str) -> None:
    """Write and delete a small probe object under `root` (creating it if needed)."""
    try:
        fs, base = url_to_fs(root.url, **_probe_options(root))
        probe = f"{str(base).rstrip('/')}/.meetstream-probe-{uuid.uuid4().hex}"
        fs.makedirs(str(base), exist_ok=True)
        fs.pipe_file(probe, b"probe")
        fs.rm_file(probe)
    except Exception as exc:  # noqa: BLE001 - any failure means "this root will not work"
        raise PreflightError(
            f"cannot write to {root.url} ({_describe(exc)}): set {setting} to a writable "
            "path or s3:// URL (and AWS credentials, MEETSTREAM_S3_ENDPOINT_URL for S3)"
        ) from None


def _probe_options(root: Root) -> dict[str, Any]:
    """One try with short timeouts: the probe must answer in seconds."""
    options = dict(root.options)
    if root.url.startswith("s3://"):
        config = dict(options.get("config_kwargs") or {})
        config.update(
            connect_timeout=5, read_timeout=10, retries={"max_attempts": 1, "mode": "standard"}
        )
        options.update(config_kwargs=config)
    return options


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}"[:200])


async def preflight(
    settings: Settings,
    *,
    media_root: Root,
    catalog_root: Root,
    request: MeetingRequest | None = None,
    http: httpx.AsyncClient | None = None,
) -> None:
    """Every check, cheapest first. Raises PreflightError with a one-line message."""
    if request is not None:
        check_join_at(request)
    _api_key(settings)
    for root, setting in (
        (media_root, "MEETSTREAM_MEDIA_ROOT"),
        (catalog_root, "MEETSTREAM_CATALOG_ROOT"),
    ):
        await asyncio.to_thread(check_root, root, setting=setting)
    await check_api(settings, http=http)
