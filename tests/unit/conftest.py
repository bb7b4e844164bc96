"""The unit tier's wiring: every retry is instant, and a fake MeetStream API (an
`httpx.MockTransport` fed from a queue of answers) with a fake clock for the waits, whose
`sleep` only moves time forward (so no unit test waits)."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from meetstream_catalog import retry
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.settings import Settings

API_KEY = "sk_live_unit_test_key_0123456789abcdef"
BASE_URL = "https://api.example.test/api/v1"

Answer = httpx.Response | Exception


class FakeAPI:
    """Each request takes the next queued answer; every request and poll sleep is recorded."""

    API_KEY = API_KEY
    BASE_URL = BASE_URL

    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.now = 1000.0

    def add(
        self,
        status: int = 200,
        json: object = None,
        *,
        text: str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> FakeAPI:
        for _ in range(times):
            if text is not None:
                self.answers.append(httpx.Response(status, text=text, headers=headers))
            else:
                self.answers.append(httpx.Response(status, json=json, headers=headers))
        return self

    def fail(self, error: Exception, *, times: int = 1) -> FakeAPI:
        self.answers.extend([error] * times)
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def retries() -> Iterator[retry.Testing]:
    """Retries in test mode: waits are skipped, not slept, and listed in `.waits`; budgets
    and Retry-After caps still act as in production, on the call's virtual clock."""
    with retry.set_testing(True) as testing:
        yield testing


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI()


@pytest.fixture
async def make_client(api: FakeAPI) -> AsyncIterator[Callable[..., MeetStreamClient]]:
    """Build clients over the fake API; the injected httpx clients are closed afterwards."""
    opened: list[httpx.AsyncClient] = []

    def build(**overrides: object) -> MeetStreamClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(api.handle))
        opened.append(http)
        options: dict[str, object] = {
            "api_key": API_KEY,
            "base_url": BASE_URL,
            "http": http,
            "settings": Settings(api_key=None),
            "sleep": api.sleep,
            "clock": api.clock,
        }
        options.update(overrides)
        return MeetStreamClient(**options)  # type: ignore[arg-type]

    yield build
    for http in opened:
        await http.aclose()
