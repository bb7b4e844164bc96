"""Signed webhook delivery of lifecycle and processing events to a bot's ``callback_url``.

Events are due when the meeting clock passes them (see
:mod:`meetstream_catalog.simulator.meeting`); each
call to :meth:`WebhookDispatcher.pump` queues the newly due ones and a per-bot background
task POSTs them one by one, so a bot's events arrive in the documented order and
``bot.done`` is always last.

Delivery faults (``DeliveryFaults``: drop, duplicate, delay, reorder; seeded) make the
delivery as unreliable as the contract allows, for testing receivers and reconciliation.

Traps guarded against: the signature is HMAC-SHA256 over the *raw body bytes* that are
actually sent (we serialise once and sign those bytes); the timestamp header is not part
of the HMAC. Failed deliveries are not retried (like the real API), and nothing is ever
sent anywhere but the ``callback_url`` the bot was created with. The secret never
reaches a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from meetstream_catalog.simulator.meeting import Bot, Event

log = logging.getLogger("meetstream_catalog.simulator.webhooks")


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>`` as sent in ``X-MeetStream-Signature``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(bot: Bot, event: Event, timestamp: str) -> dict[str, Any]:
    """The union of the documented envelope fields (contract section 8)."""
    body: dict[str, Any] = {
        "event": event.event,
        "bot_event": event.bot_event or event.event,
        "bot_id": bot.bot_id,
        "bot_status": event.bot_status,
        "message": event.message,
        "status_code": event.status_code,
        "timestamp": timestamp,
        "custom_attributes": bot.custom_attributes,
    }
    if event.run is not None:  # a /transcribe run's event: no custom_attributes (CP)
        del body["custom_attributes"]
    if event.extra:
        body.update(event.extra)
        body.setdefault("status", "success")
    return body


@dataclass
class DeliveryFaults:
    """How unreliable deliveries are: shares of webhooks dropped and sent twice, a delay in
    real seconds before each, and whether neighbours swap places; drawn from `seed`."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    reorder: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.drop <= 1 and 0 <= self.duplicate <= 1 and self.delay >= 0):
            raise ValueError("drop and duplicate must be in [0, 1], delay >= 0")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_delivery_faults(raw: Any) -> DeliveryFaults:
    """Validate delivery faults given as a mapping (JSON, YAML or CLI)."""
    if not isinstance(raw, dict):
        raise ValueError("webhook delivery faults must be a mapping")
    unknown = set(raw) - {"drop", "duplicate", "delay", "reorder", "seed"}
    if unknown:
        raise ValueError(f"unknown webhook fault field(s) {sorted(unknown)}")
    return DeliveryFaults(**raw)


class WebhookDispatcher:
    """Queues due events per bot and delivers them sequentially from background tasks."""

    def __init__(self, secret: str | None, timeout: float = 5.0) -> None:
        self._secret = secret
        self._timeout = timeout
        self._queues: dict[str, deque[tuple[str, bytes]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self.faults = DeliveryFaults()
        self._rng = random.Random(0)

    def set_faults(self, faults: DeliveryFaults) -> None:
        self.faults, self._rng = faults, random.Random(faults.seed)

    def pump(self, bots: Iterable[Bot], now: float, stamp: Callable[[Bot, Event], str]) -> None:
        """Queue every due, unsent event; must run inside the server's event loop."""
        for bot in bots:
            due = [
                e
                for e in bot.events()
                if e.at <= now - bot.created_at and e.key not in bot.sent_events
            ]
            for event in due:
                # A /transcribe run posts to the callback_url of its own request.
                url = event.url if event.run is not None else bot.callback_url
                if url is None:
                    continue
                bot.sent_events.add(event.key)
                body = json.dumps(envelope(bot, event, stamp(bot, event))).encode()
                self._queues.setdefault(bot.bot_id, deque()).append((url, body))
            task = self._tasks.get(bot.bot_id)
            # Check the queue, not just `due`: a drain task that was closing its client when
            # events were queued has already left its loop; the next pump restarts it.
            if self._queues.get(bot.bot_id) and (task is None or task.done()):
                self._tasks[bot.bot_id] = asyncio.get_running_loop().create_task(
                    self._drain(bot.bot_id)
                )

    async def _drain(self, bot_id: str) -> None:
        queue = self._queues[bot_id]
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            while queue:
                faults = self.faults
                if faults.reorder and len(queue) > 1 and self._rng.random() < 0.5:
                    queue[0], queue[1] = queue[1], queue[0]
                url, body = queue.popleft()
                if faults.drop and self._rng.random() < faults.drop:
                    self.dropped += 1
                    continue
                if faults.delay:
                    await asyncio.sleep(faults.delay)
                copies = 2 if faults.duplicate and self._rng.random() < faults.duplicate else 1
                for _ in range(copies):
                    await self._send(client, bot_id, url, body)

    async def _send(self, client: httpx.AsyncClient, bot_id: str, url: str, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-MeetStream-Timestamp": datetime.now(UTC).isoformat(),
            "User-Agent": "meetstream-simulator",
        }
        if self._secret:
            headers["X-MeetStream-Signature"] = sign(self._secret, body)
        try:
            response = await client.post(url, content=body, headers=headers)
            ok = response.is_success
        except httpx.HTTPError as exc:
            ok = False
            log.warning("webhook for bot %s failed: %s", bot_id, type(exc).__name__)
        if ok:
            self.delivered += 1
        else:
            self.failed += 1  # not retried, as the real API

    async def aclose(self) -> None:
        """Let queued deliveries finish (bounded by the send timeout), then cancel the rest."""
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=self._timeout)
            for task in still:
                task.cancel()
        self._tasks.clear()

    def forget(self) -> None:
        """Drop queued deliveries (``/_simulator/reset``)."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._queues.clear()
