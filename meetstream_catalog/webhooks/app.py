"""The webhook receiver: MeetStream's callbacks -> Prefect events (and the catalog).

`POST /webhooks/meetstream` checks a delivery and answers at once; it does no capture work.
A delivery gets in with a valid `X-MeetStream-Signature` OR a valid per-bot token in its
URL (`webhooks.auth`); nothing else does, unless the receiver was started with
`--insecure-accept-unsigned`. An accepted event for a bot the catalog knows as the
delivery's (`webhooks.known`) is emitted as a Prefect event (`meetstream.<event>`, resource
`meetstream.bot.<bot_id>`) and queued for the `bot_events` table, which a background task
appends in one commit per second. The first terminal event of a bot (`bot.done`, or
`bot.stopped` with `NotAllowed` / `Denied` / `Error`) carries the resource label
`meetstream.terminal=true`, which the `collect-bot` deployment trigger matches.

Traps guarded against:
- forged and replayed requests: signatures and tokens are compared in constant time, and
  an `X-MeetStream-Timestamp` outside the window is refused (401);
- work for invented bots: an event for a bot the catalog does not know (or knows as another
  request's, when the delivery's proof is a token) is recorded flagged `unknown_bot` and
  counted, never emitted, so it can start no flow run; at most `max_queued` such rows wait
  for the catalog, the rest are only counted;
- huge or malformed bodies: read up to a limit (413), JSON objects with a bot id and an
  event only (400);
- MeetStream never resends, but may duplicate and reorder: duplicates (same bot, event,
  bot_event and timestamp) are acknowledged and ignored; one collection per bot, since only
  its first terminal event is labelled; `bot_events` is a log, so order does not matter;
- leaks: the secret, signatures, tokens, bodies and URLs are never logged or emitted; the
  Prefect event carries whitelisted envelope fields only; `/health` carries counters only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from meetstream_catalog.webhooks.auth import REQUEST_PARAM, TOKEN_PARAM, signature_ok, token_ok
from meetstream_catalog.webhooks.known import KnownBots

log = logging.getLogger("webhooks")

PATH = "/webhooks/meetstream"
TERMINAL_STOPS = frozenset({"notallowed", "denied", "error"})
_PAYLOAD_FIELDS = ("event", "bot_event", "bot_status", "status_code", "timestamp", "message")
INSECURE = "\x1b[1;31mINSECURE\x1b[0m"  # red on a terminal: this mode is for experiments


@dataclass
class ReceiverConfig:
    """What differs between a test, a demo and a deployment of the receiver."""

    secret: str | None = None  # MeetStream's signing secret
    token_keys: tuple[str, ...] = ()  # the callback token key, then the previous one
    insecure: bool = False  # accept what nothing authenticates (--insecure-accept-unsigned)
    max_body_bytes: int = 64 * 1024
    window_seconds: float = 300.0
    dedupe_size: int = 100_000
    max_queued: int = 10_000  # unknown-bot rows waiting for the catalog, at most
    emit: Callable[[str, Mapping[str, str], Mapping[str, Any]], None] | None = None
    record: Callable[[list[dict[str, Any]]], None] | None = None
    known: KnownBots = field(default_factory=lambda: KnownBots(None))
    flush_seconds: float = 1.0
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))


class _Rejected(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def is_terminal(body: Mapping[str, Any]) -> bool:
    """The meeting is over and its media will come no more: collect the bot."""
    if body.get("event") == "bot.done":
        return True
    status = str(body.get("bot_status") or "").replace("_", "").casefold()
    return body.get("event") == "bot.stopped" and status in TERMINAL_STOPS


class Receiver:
    """The receiver's state: the dedupe memory, the bots already triggered, the queue and
    the counters `/health` shows."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.seen: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self.triggered: OrderedDict[str, None] = OrderedDict()
        self.queue: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    async def handle(self, request: Request) -> JSONResponse:
        try:
            body = await self._read(request)
            proof, owner_key = self._authenticate(request, body)
            self._check_window(request)
            envelope = _envelope(body)
        except _Rejected as exc:
            self.rejected[exc.reason] += 1
            log.warning("webhook refused: %s (HTTP %d)", exc.message, exc.status)
            return JSONResponse({"message": exc.message}, exc.status)
        key = tuple(str(envelope.get(k)) for k in ("bot_id", "event", "bot_event", "timestamp"))
        if key in self.seen:
            self.counts["duplicate"] += 1
            return JSONResponse({"accepted": False, "duplicate": True})
        self._remember(self.seen, key)
        self.counts["accepted"] += 1
        if proof == "insecure":
            self.counts["insecure_accepted"] += 1
            log.warning("%s: accepted an unauthenticated delivery", INSECURE)
        await self._accept(envelope, owner_key)
        return JSONResponse({"accepted": True})

    async def _read(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Rejected(413, "oversized", f"body over {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Rejected(413, "oversized", f"body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _authenticate(self, request: Request, body: bytes) -> tuple[str, str | None]:
        """What vouches for the delivery (`signature`, `token` or `insecure`), and the
        request key its token names (None: nothing ties it to one request)."""
        config = self.config
        signature = request.headers.get("x-meetstream-signature")
        if config.secret and signature_ok(config.secret, body, signature):
            return "signature", None
        request_key = request.query_params.get(REQUEST_PARAM)
        token = request.query_params.get(TOKEN_PARAM)
        if request_key and token and token_ok(config.token_keys, request_key, token):
            return "token", request_key
        if config.insecure:
            return "insecure", None
        if token:
            raise _Rejected(401, "bad_token", "wrong callback token")
        if signature:
            raise _Rejected(401, "bad_signature", "wrong X-MeetStream-Signature")
        raise _Rejected(401, "unauthenticated", "no X-MeetStream-Signature and no callback token")

    def _check_window(self, request: Request) -> None:
        stamp = request.headers.get("x-meetstream-timestamp")
        if stamp is None:
            return
        try:
            sent = dt.datetime.fromisoformat(stamp.strip())
        except ValueError:
            raise _Rejected(401, "stale", "X-MeetStream-Timestamp is not ISO-8601") from None
        sent = sent if sent.tzinfo else sent.replace(tzinfo=dt.UTC)
        if abs((self.config.clock() - sent).total_seconds()) > self.config.window_seconds:
            raise _Rejected(401, "stale", "X-MeetStream-Timestamp outside the accepted window")

    async def _accept(self, envelope: dict[str, Any], owner_key: str | None) -> None:
        bot_id, event = envelope["bot_id"], envelope["event"]
        terminal = is_terminal(envelope)
        bot = await self.config.known.get(bot_id, fresh=terminal)
        if bot is None or (owner_key is not None and bot.request_id != owner_key):
            self.counts["unknown_bot"] += 1
            if len(self.queue) < self.config.max_queued:
                self.queue.append({**envelope, "unknown_bot": True})
            else:
                self.counts["unknown_bot_not_recorded"] += 1
            return
        trigger = terminal and not bot.finished and bot_id not in self.triggered
        if trigger:
            self._remember(self.triggered, bot_id)
            self.counts["triggered"] += 1
        if self.config.emit is not None:
            resource = {
                "prefect.resource.id": f"meetstream.bot.{bot_id}",
                "meetstream.bot_id": bot_id,
                "meetstream.terminal": "true" if trigger else "false",
            }
            payload = {"bot_id": bot_id, **{k: envelope.get(k) for k in _PAYLOAD_FIELDS}}
            self.config.emit(f"meetstream.{event}", resource, payload)
        self.queue.append({**envelope, "unknown_bot": False})

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
                self.counts["record_failures"] += 1
                self.queue = batch + self.queue
                return 0
        self.counts["recorded"] += len(batch)
        return len(batch)

    def health(self) -> dict[str, Any]:
        """The counters, for `/health` and monitoring: numbers only, never a secret."""
        counts = ("accepted", "duplicate", "unknown_bot", "unknown_bot_not_recorded",
                  "triggered", "insecure_accepted", "recorded", "record_failures")  # fmt: skip
        return {
            "ok": True,
            "insecure": self.config.insecure,
            **{name: self.counts[name] for name in counts},
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": {reason: self.rejected[reason] for reason in _REASONS},
            "queued": len(self.queue),
            "catalog_reads": self.config.known.reads,
        }


_REASONS = ("unauthenticated", "bad_signature", "bad_token", "stale", "oversized", "malformed")


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Rejected(400, "malformed", "body is not JSON") from None
    if not isinstance(data, dict):
        raise _Rejected(400, "malformed", "body is not a JSON object")
    name = data.get("event") or data.get("bot_event")
    if not isinstance(data.get("bot_id"), str) or not data["bot_id"] or not isinstance(name, str):
        raise _Rejected(400, "malformed", "a webhook needs a bot_id and an event")
    return {**data, "event": name}


def create_app(config: ReceiverConfig) -> Starlette:
    """The ASGI app; `app.state.receiver` holds its state (for tests and /health)."""
    receiver = Receiver(config)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(receiver.health())

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
