"""The webhook receiver: MeetStream's signed callbacks -> Prefect events (and the catalog).

`POST /webhooks/meetstream` checks a delivery and answers at once; it does no capture work.
An accepted event is emitted as a Prefect event (`meetstream.<event>`, resource
`meetstream.bot.<bot_id>`) and queued for the `bot_events` table, which a background task
appends in one commit per second. The first terminal event of a bot (`bot.done`, or
`bot.stopped` with `NotAllowed` / `Denied` / `Error`) carries the resource label
`meetstream.terminal=true`, which the `collect-bot` deployment trigger matches.

Traps guarded against:
- forged and replayed requests: with a secret configured, `X-MeetStream-Signature`
  (`sha256=<hex>` or bare hex, HMAC-SHA256 of the raw body) is compared in constant time,
  and an `X-MeetStream-Timestamp` outside the window is refused (401);
- huge or malformed bodies: read up to a limit (413), JSON objects with a bot id and an
  event only (400);
- MeetStream never resends, but may duplicate and reorder: duplicates (same bot, event,
  bot_event and timestamp) are acknowledged and ignored; order does not matter, since
  collection only needs one terminal event and `bot_events` is a log;
- leaks: the secret, signatures, bodies and URLs are never logged or emitted; the Prefect
  event carries whitelisted envelope fields only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

log = logging.getLogger("webhooks")

PATH = "/webhooks/meetstream"
TERMINAL_STOPS = frozenset({"notallowed", "denied", "error"})
_PAYLOAD_FIELDS = ("event", "bot_event", "bot_status", "status_code", "timestamp", "message")


@dataclass
class ReceiverConfig:
    """What differs between a test, a demo and a deployment of the receiver."""

    secret: str | None = None
    max_body_bytes: int = 64 * 1024
    window_seconds: float = 300.0
    dedupe_size: int = 100_000
    emit: Callable[[str, Mapping[str, str], Mapping[str, Any]], None] | None = None
    record: Callable[[list[dict[str, Any]]], None] | None = None
    flush_seconds: float = 1.0
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`header` is `sha256=<hex>` (or bare hex) of HMAC-SHA256(secret, body)."""
    if not header:
        return False
    given = header.strip().removeprefix("sha256=").strip().lower()
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())


def is_terminal(body: Mapping[str, Any]) -> bool:
    """The meeting is over and its media will come no more: collect the bot."""
    if body.get("event") == "bot.done":
        return True
    status = str(body.get("bot_status") or "").replace("_", "").casefold()
    return body.get("event") == "bot.stopped" and status in TERMINAL_STOPS


class Receiver:
    """The receiver's state: the dedupe memory, the bots already triggered, the queue."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.seen: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self.triggered: OrderedDict[str, None] = OrderedDict()
        self.queue: list[dict[str, Any]] = []
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0}

    async def handle(self, request: Request) -> JSONResponse:
        try:
            body = await self._read(request)
            self._authenticate(request, body)
            envelope = _envelope(body)
        except _Rejected as exc:
            self.counts["rejected"] += 1
            log.warning("webhook refused: %s (HTTP %d)", exc.message, exc.status)
            return JSONResponse({"message": exc.message}, exc.status)
        key = tuple(str(envelope.get(k)) for k in ("bot_id", "event", "bot_event", "timestamp"))
        if key in self.seen:
            self.counts["duplicate"] += 1
            return JSONResponse({"accepted": False, "duplicate": True})
        self._remember(self.seen, key)
        self.counts["accepted"] += 1
        self._accept(envelope)
        return JSONResponse({"accepted": True})

    async def _read(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Rejected(413, f"body over {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Rejected(413, f"body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _authenticate(self, request: Request, body: bytes) -> None:
        secret = self.config.secret
        if secret and not signature_ok(secret, body, request.headers.get("x-meetstream-signature")):
            raise _Rejected(401, "missing or wrong X-MeetStream-Signature")
        stamp = request.headers.get("x-meetstream-timestamp")
        if stamp is not None:
            try:
                sent = dt.datetime.fromisoformat(stamp.strip())
            except ValueError:
                raise _Rejected(401, "X-MeetStream-Timestamp is not ISO-8601") from None
            sent = sent if sent.tzinfo else sent.replace(tzinfo=dt.UTC)
            skew = abs((self.config.clock() - sent).total_seconds())
            if skew > self.config.window_seconds:
                raise _Rejected(401, "X-MeetStream-Timestamp outside the accepted window")

    def _accept(self, envelope: dict[str, Any]) -> None:
        bot_id, event = envelope["bot_id"], envelope["event"]
        terminal = is_terminal(envelope) and bot_id not in self.triggered
        if terminal:
            self._remember(self.triggered, bot_id)
        if self.config.emit is not None:
            resource = {
                "prefect.resource.id": f"meetstream.bot.{bot_id}",
                "meetstream.bot_id": bot_id,
                "meetstream.terminal": "true" if terminal else "false",
            }
            payload = {"bot_id": bot_id, **{k: envelope.get(k) for k in _PAYLOAD_FIELDS}}
            self.config.emit(f"meetstream.{event}", resource, payload)
        self.queue.append(envelope)

    def _remember(self, memory: OrderedDict[Any, None], key: Any) -> None:
        memory[key] = None
        while len(memory) > self.config.dedupe_size:
            memory.popitem(last=False)

    def flush(self) -> int:
        """Hand the queued events to `record` (one call); return how many."""
        batch, self.queue = self.queue, []
        if batch and self.config.record is not None:
            try:
                self.config.record(batch)
            except Exception as exc:  # noqa: BLE001 - keep them for the next try
                log.warning("could not record %d event(s): %s", len(batch), type(exc).__name__)
                self.queue = batch + self.queue
                return 0
        return len(batch)


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Rejected(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise _Rejected(400, "body is not a JSON object")
    name = data.get("event") or data.get("bot_event")
    if not isinstance(data.get("bot_id"), str) or not data["bot_id"] or not isinstance(name, str):
        raise _Rejected(400, "a webhook needs a bot_id and an event")
    return {**data, "event": name}


def create_app(config: ReceiverConfig) -> Starlette:
    """The ASGI app; `app.state.receiver` holds its state (for tests and /health)."""
    receiver = Receiver(config)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, **receiver.counts, "queued": len(receiver.queue)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def flusher() -> None:
            while True:
                await asyncio.sleep(config.flush_seconds)
                await asyncio.to_thread(receiver.flush)

        task = asyncio.create_task(flusher())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(receiver.flush)

    app = Starlette(
        routes=[
            Route(PATH, receiver.handle, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.receiver = receiver
    return app
