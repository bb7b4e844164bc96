"""Presigned ``/media/{bot_id}/{kind}/{filename}`` downloads, S3 style.

Checks the signature and expiry (403 + S3 XML), then streams the deterministic bytes chunk
by chunk with an exact ``Content-Length``, ``ETag``, ``Accept-Ranges`` and single-range
``206`` / ``416`` answers; ``HEAD`` is supported.

Traps guarded against: never render a whole multi-megabyte file for a small range (only
the chunks overlapping the range are generated); never look at ``Authorization`` here (a
presigned URL is its own credential); and a "drop mid-body" fault really breaks the
transfer instead of returning a short 200 that a careless client would accept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from meetstream_catalog.simulator.admin import pump
from meetstream_catalog.simulator.media import (
    RangeNotSatisfiableError,
    etag,
    find_file,
    parse_range,
    render_file,
)
from meetstream_catalog.simulator.media import s3_error_xml as _xml
from meetstream_catalog.simulator.state import SimulatorState


class ConnectionDroppedError(httpx.RemoteProtocolError):
    """Raised mid-body to drop a download: uvicorn aborts the connection, and in-process
    (``httpx.ASGITransport``) the client sees the same exception type as over a socket."""


def _s3_error(status: int, code: str, message: str, path: str) -> Response:
    return Response(_xml(code, message, path), status, media_type="application/xml")


def _coalesce(chunks: Iterator[bytes], size: int = 1 << 16) -> Iterator[bytes]:
    """Join the muxer's small pieces (one WebM cluster, often < 1 KB) into ~64 KiB chunks.

    Starlette pulls each chunk of a sync iterator through its thread pool; one hop per
    cluster made downloads thread-bound (measured: ~0.8 s for 650 KB of tiny files).
    """
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _truncate(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        part = chunk[: max(0, limit - sent)]
        if part:
            sent += len(part)
            yield part
        if sent >= limit:
            raise ConnectionDroppedError("simulated connection drop mid-body")


async def media(request: Request) -> Response:
    """Serve a presigned ``/media/{bot_id}/{kind}/{filename}`` download."""
    state: SimulatorState = request.app.state.sim
    path = request.url.path
    pump(state)
    bot_id = request.path_params["bot_id"]
    rule = state.faults.take("media", bot_id, state.clock.now())
    if rule is not None and rule.delay:
        await asyncio.sleep(rule.delay)
    if rule is not None and rule.status is not None:
        code = "SlowDown" if rule.status in (429, 503) else "InternalError"
        return _s3_error(
            rule.status, code, rule.message or "Please reduce your request rate.", path
        )
    problem = state.signer.check(path, dict(request.query_params))
    if problem is not None:
        return _s3_error(403, *problem, path)
    bot = state.bots.get(bot_id)
    if bot is not None and bot.deleted is not None:
        bot = None  # its data was deleted: every URL answers 404, as a deleted S3 object
    plan = bot.plan() if bot is not None else None
    f = (
        find_file(plan, request.path_params["kind"], request.path_params["filename"])
        if plan
        else None
    )
    if bot is None or plan is None or f is None:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.", path)
    lazy = render_file(bot, plan, f, state.config.media)
    size = lazy.size
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag(bot, f, size),
        "Content-Type": lazy.content_type,
    }
    try:
        span = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiableError:
        headers["Content-Range"] = f"bytes */{size}"
        return _s3_error(416, "InvalidRange", "The requested range is not satisfiable", path)
    start, end = span if span is not None else (0, size - 1)
    status = 206 if span is not None else 200
    headers["Content-Length"] = str(end - start + 1)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD":
        return Response(None, status, headers=headers)
    body = _coalesce(lazy.iter_range(start, end))
    if rule is not None and rule.drop_after_bytes is not None:
        body = _truncate(body, rule.drop_after_bytes)
    return StreamingResponse(body, status, headers=headers)
