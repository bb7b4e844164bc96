"""The shared clients' gate: never more requests in the pool than it has connections; a
slot is held until the response is closed, and given back on errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from meetstream_catalog.meetstream.http import _Gated


class _Counting(httpx.AsyncBaseTransport):
    """Answers every request after a pause; counts requests whose body is not closed."""

    def __init__(self, fail: bool = False) -> None:
        self.open = self.peak = 0
        self.fail = fail

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fail:
            raise httpx.ConnectError("refused", request=request)
        self.open += 1
        self.peak = max(self.peak, self.open)
        await asyncio.sleep(0.01)
        owner = self

        class Body(httpx.AsyncByteStream):
            async def __aiter__(self):  # type: ignore[no-untyped-def]
                yield b"x" * 10

            async def aclose(self) -> None:
                owner.open -= 1

        return httpx.Response(200, stream=Body())


async def test_at_most_slots_requests_are_in_the_pool_until_their_bodies_close() -> None:
    inner = _Counting()
    async with httpx.AsyncClient(transport=_Gated(inner, 3)) as client:

        async def fetch(n: int) -> int:
            async with client.stream("GET", f"http://media.test/{n}") as response:
                return len(await response.aread())

        sizes = await asyncio.gather(*(fetch(n) for n in range(20)))
    assert sizes == [10] * 20
    assert inner.peak == 3
    assert inner.open == 0


async def test_a_failed_request_gives_its_slot_back() -> None:
    inner = _Counting(fail=True)
    async with httpx.AsyncClient(transport=_Gated(inner, 1)) as client:
        for _ in range(3):  # with the slot leaked, the second would wait forever
            with pytest.raises(httpx.ConnectError):
                await asyncio.wait_for(client.get("http://media.test/"), timeout=5)


async def test_concurrent_blocks_share_the_clients_until_the_last_one_ends() -> None:
    """Two flows at once in one process (e.g. `asyncio.gather` of two collect_bot calls):
    the first to finish must not close the clients the other is still using."""
    from meetstream_catalog.meetstream.http import shared_http
    from meetstream_catalog.settings import Settings

    first_done = asyncio.Event()
    seen: list[httpx.AsyncClient] = []

    async def short() -> None:
        async with shared_http(Settings()) as http:
            seen.append(http.api)
            await asyncio.sleep(0)
        first_done.set()

    async def long() -> bool:
        async with shared_http(Settings()) as http:
            seen.append(http.api)
            await first_done.wait()
            return http.api.is_closed or http.media.is_closed

    _, closed_while_used = await asyncio.gather(short(), long())  # short opens them
    assert not closed_while_used
    assert seen[0] is seen[1]  # one pool for the loop
    assert seen[0].is_closed  # and closed once the last block ended
    async with shared_http(Settings()) as again:
        assert not again.api.is_closed  # a later block opens fresh clients
