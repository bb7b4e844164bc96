"""The bots the receiver may start work for: the catalog's `bots` table, read at a bounded rate.

A terminal event starts a `collect-bot` run (a worker process, seconds of CPU) only for a
bot the catalog knows, so the receiver keeps the table's `bot_id -> (request_id, finished)`
in memory and reads it again when a delivery names a bot it has not seen.

Traps guarded against:
- a flood of deliveries for invented bots turning into a flood of catalog reads: the table
  is read at most once per `min_interval` seconds, whatever the traffic, and only for
  deliveries that already passed authentication;
- a genuine terminal event missed because the bot's row was committed just after the last
  read: a terminal event that misses waits for a read that began after it arrived (at most
  `min_interval` away) before its bot is called unknown; other events take the index as it is;
- a catalog that cannot be read: the index keeps what it had and says so in the log, and
  the event's bot counts as unknown (a lost collection is what `collect-pending` is for).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meetstream_catalog.catalog.pending import KnownBot

log = logging.getLogger("webhooks")


class KnownBots:
    """An in-memory index of the catalog's bots, refreshed on a miss at a bounded rate."""

    def __init__(
        self,
        load: Callable[[], Mapping[str, KnownBot]] | None,
        *,
        min_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._min_interval = min_interval
        self._clock = clock
        self._bots: Mapping[str, KnownBot] = {}
        self._loaded_at = float("-inf")  # when the last read began
        self._lock = asyncio.Lock()
        self.reads = 0

    async def get(self, bot_id: str, *, fresh: bool = False) -> KnownBot | None:
        """The bot's entry, reading the catalog again if it is missing and the last read is
        `min_interval` old. `fresh`: on a miss, wait for a read begun after this call."""
        load = self._load
        if bot_id in self._bots or load is None:
            return self._bots.get(bot_id)
        arrived = self._clock()
        async with self._lock:
            wait = self._loaded_at + self._min_interval - self._clock()
            if bot_id not in self._bots and self._loaded_at < arrived and (fresh or wait <= 0):
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._read(load)
        return self._bots.get(bot_id)

    async def _read(self, load: Callable[[], Mapping[str, KnownBot]]) -> None:
        self._loaded_at = self._clock()
        self.reads += 1
        try:
            self._bots = await asyncio.to_thread(load)
        except Exception as exc:  # noqa: BLE001 - keep the last index; the log says why
            log.warning("could not read the catalog's bots: %s", type(exc).__name__)
