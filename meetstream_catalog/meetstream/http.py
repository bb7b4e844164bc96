"""The HTTP clients of one worker process: one for the MeetStream API, one for media.

Every meeting held by a process (hundreds, waiting on their bots) shares these two pooled
clients instead of building one per step: a new `httpx.AsyncClient` costs ~16 ms of CPU for
its TLS context, four times per meeting (measured in bench/). The media client is separate
on purpose: presigned URLs authenticate themselves, and the API client's `Token` header
must never travel to a storage host.

Requests beyond the pool's connections wait on a semaphore (`_Gated`), not in httpcore's
pool queue: httpcore scans its whole queue against every connection each time one frees,
so 200 meetings archiving 4 files each (800 requests for 256 connections) spent 98% of the
process's CPU in `_assign_requests_to_connections` (py-spy, bench/fleet_bench.py at N=200).

The trap guarded here is a client that outlives its event loop (each flow run in a process
may run its own loop): clients belong to the loop that opened them. A flow opens them once
with `open_clients` and passes the `Clients` to every step; flows running at the same time
in one loop share the pool.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.settings import Settings

# Sized for hundreds of meetings polling at once from one process.
MAX_CONNECTIONS = 256
LIMITS = httpx.Limits(
    max_connections=MAX_CONNECTIONS, max_keepalive_connections=64, keepalive_expiry=30
)


class _Gated(httpx.AsyncBaseTransport):
    """A transport that holds one of `slots` from sending a request until its response is
    closed, so the pool below never has more requests than connections."""

    def __init__(self, inner: httpx.AsyncBaseTransport, slots: int) -> None:
        self._inner = inner
        self._slots = asyncio.Semaphore(slots)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._slots.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Releasing(response.stream, self._slots.release)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Releasing(httpx.AsyncByteStream):
    """A response body that gives its slot back once, when it is closed."""

    def __init__(self, inner: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._inner, self._release = inner, release
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if not self._released:
                self._released = True
                self._release()


def _client(timeout: httpx.Timeout) -> httpx.AsyncClient:
    pool = httpx.AsyncHTTPTransport(limits=LIMITS)
    return httpx.AsyncClient(timeout=timeout, transport=_Gated(pool, MAX_CONNECTIONS))


@dataclass(frozen=True)
class HttpClients:
    api: httpx.AsyncClient
    media: httpx.AsyncClient


@dataclass
class _Shared:
    """A loop's clients and how many blocks use them."""

    clients: HttpClients
    users: int = 0


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shared] = (
    weakref.WeakKeyDictionary()
)


def _open(settings: Settings) -> HttpClients:
    timeout = httpx.Timeout(settings.http_timeout_seconds)
    return HttpClients(api=_client(timeout), media=_client(timeout))


@asynccontextmanager
async def shared_http(settings: Settings) -> AsyncIterator[HttpClients]:
    """The clients every step in this event loop uses until the last block ends (nested
    and concurrent blocks share them: several flows run at once in one process, e.g.
    `asyncio.gather` of two `collect_bot` calls, must not close each other's clients)."""
    loop = asyncio.get_running_loop()
    shared = _by_loop.get(loop)
    if shared is None:
        shared = _by_loop[loop] = _Shared(_open(settings))
    shared.users += 1
    try:
        yield shared.clients
    finally:
        shared.users -= 1
        if shared.users == 0:
            del _by_loop[loop]  # before the awaits: a new block opens fresh clients
            await shared.clients.api.aclose()
            await shared.clients.media.aclose()


@dataclass(frozen=True)
class Clients:
    """One run's clients: the MeetStream API (with its `Token` header) and media downloads
    (presigned URLs authenticate themselves: never send them the API key)."""

    api: MeetStreamClient
    media: httpx.AsyncClient


@asynccontextmanager
async def open_clients(settings: Settings) -> AsyncIterator[Clients]:
    """The run's `Clients`, over this event loop's shared pool, until the block ends."""
    settings.require_api_key()
    async with shared_http(settings) as http:
        yield Clients(api=MeetStreamClient(settings=settings, http=http.api), media=http.media)
