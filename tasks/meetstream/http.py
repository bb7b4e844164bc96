"""The HTTP clients of one worker process: one for the MeetStream API, one for media.

Every meeting held by a process (hundreds, waiting on their bots) shares these two pooled
clients instead of building one per step: a new `httpx.AsyncClient` costs ~16 ms of CPU for
its TLS context, four times per meeting (measured in bench/). The media client is separate
on purpose: presigned URLs authenticate themselves, and the API client's `Token` header
must never travel to a storage host.

The trap guarded here is a client that outlives its event loop (each flow run in a process
may run its own loop): clients belong to the loop that opened them, are opened by
`shared_http` around a flow run and closed when it ends. The same call inside a step reuses
them, or (a step run on its own, as in tests) opens clients for the step's duration.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from tasks.settings import Settings

# Sized for hundreds of meetings polling at once from one process.
LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30)


@dataclass(frozen=True)
class HttpClients:
    api: httpx.AsyncClient
    media: httpx.AsyncClient


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, HttpClients] = (
    weakref.WeakKeyDictionary()
)


def _open(settings: Settings) -> HttpClients:
    timeout = httpx.Timeout(settings.http_timeout_seconds)
    return HttpClients(
        api=httpx.AsyncClient(timeout=timeout, limits=LIMITS),
        media=httpx.AsyncClient(timeout=timeout, limits=LIMITS),
    )


@asynccontextmanager
async def shared_http(settings: Settings) -> AsyncIterator[HttpClients]:
    """The clients every step in this event loop uses until the block ends (re-entrant)."""
    loop = asyncio.get_running_loop()
    if (existing := _by_loop.get(loop)) is not None:
        yield existing
        return
    clients = _by_loop[loop] = _open(settings)
    try:
        yield clients
    finally:
        del _by_loop[loop]
        await clients.api.aclose()
        await clients.media.aclose()
