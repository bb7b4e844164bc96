"""The catalog-writer slot: capture writes and compaction exclude each other.

Runs against the session's Prefect test API, because the exclusion is a Prefect global
concurrency limit shared by every worker process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from prefect.concurrency.asyncio import concurrency

from tasks import steps
from tasks.compaction import CATALOG_WRITER_LIMIT

pytestmark = pytest.mark.usefixtures("prefect_api")


async def test_writes_wait_for_compaction_and_each_error_reaches_its_caller() -> None:
    await steps.ensure_writer_limit()
    done: dict[int, float] = {}

    def write(i: int) -> Callable[[], int]:
        def run() -> int:
            done[i] = time.monotonic()
            if i == 3:
                raise ValueError("write 3 failed")
            return i

        return run

    async def compaction() -> float:
        async with concurrency(CATALOG_WRITER_LIMIT, occupy=1, strict=True):
            await asyncio.sleep(1.0)
            return time.monotonic()

    holder = asyncio.create_task(compaction())
    await asyncio.sleep(0.3)  # compaction holds the slot now
    results = await asyncio.gather(
        *(steps.write_exclusively(write(i)) for i in range(10)), return_exceptions=True
    )
    released = await holder

    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert min(done.values()) >= released - 0.05, "a write ran while compaction held the slot"


async def test_a_write_after_a_burst_still_runs() -> None:
    first = await asyncio.gather(*(steps.write_exclusively(lambda: 1) for _ in range(5)))
    later = await steps.write_exclusively(lambda: 2)
    assert (sum(first), later) == (5, 2)
