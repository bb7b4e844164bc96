"""Simulator configuration and the in-memory account: bots, idempotency and dedup keys.

:func:`SimulatorState.create_bot` implements the create-bot contract (validation, the
``Idempotency-Key`` header -> 201 then 507, the ``deduplication_key`` body field -> 200
or 409, top-level stream flags beating the nested ``recording_config`` copies).

Trap guarded against: a replayed Idempotency-Key must ignore the new body entirely (even
an invalid one) and must report the bot's *current* status with ``transcript_id: null``,
so the replay check runs before any validation.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from meetstream_catalog.simulator.faults import FaultBook, FaultRule, parse_fault
from meetstream_catalog.simulator.media import MediaProfile, UrlSigner
from meetstream_catalog.simulator.meeting import Bot, SimClock
from meetstream_catalog.simulator.scenario import AccountBotScript, Scenario
from meetstream_catalog.simulator.webhooks import DeliveryFaults, WebhookDispatcher

DEMO_API_KEY = "sim-demo-key"
DEMO_WEBHOOK_SECRET = "sim-webhook-secret"  # noqa: S105 - documented demo secret
_NS = uuid.UUID("6f1d7a52-3c1e-4d8a-9a57-0c5a1f0e2b11")
_STREAMING_PROVIDERS = ("meeting_captions",)


@dataclass
class SimulatorConfig:
    """Everything that differs between a demo, a test and a long-running simulator."""

    api_key: str = DEMO_API_KEY
    speed: float = 60.0  # meeting seconds per real second; 0 = manual clock only
    url_ttl: float = 600.0  # per-participant and composite-video URLs, real seconds
    mixed_audio_ttl: float = 3600.0
    scenario: Scenario = field(default_factory=Scenario)
    webhook_secret: str | None = DEMO_WEBHOOK_SECRET  # None sends unsigned webhooks
    webhook_faults: DeliveryFaults = field(default_factory=DeliveryFaults)
    url_secret: bytes | None = None  # random per process when None
    video_shape: str = "nested"  # or "flat" (the observed top-level array)
    faults: list[FaultRule] = field(default_factory=list)
    media: MediaProfile = field(default_factory=MediaProfile)
    require_bot_name: bool = True
    page_size: int = 50  # bots per page of GET /bots and /calendar/scheduled_bots
    wall_clock: Callable[[], float] = time.time  # test seam for URL expiry
    monotonic: Callable[[], float] = time.monotonic  # test seam for the meeting clock


class ApiError(Exception):
    """An error answer ``{"message": ...}`` with this HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    # The contract: when both the top-level and the nested copy are set, top-level wins.
    if name in body:
        return bool(body[name])
    nested = body.get("recording_config")
    if isinstance(nested, dict) and name in nested:
        return bool(nested[name])
    return default


def _has_transcript(body: dict[str, Any]) -> bool:
    cfg = body.get("recording_config")
    provider = cfg.get("transcript", {}).get("provider") if isinstance(cfg, dict) else None
    if not isinstance(provider, dict) or len(provider) != 1:
        return False
    name = next(iter(provider))
    return not (name.endswith("_streaming") or name in _STREAMING_PROVIDERS)


def _seconds(leave: dict[str, Any], key: str, default: float) -> float:
    value = leave.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"automatic_leave.{key} must be a number of seconds.")
    return float(value)


def _validate(body: dict[str, Any], require_bot_name: bool) -> dict[str, float]:
    link = body.get("meeting_link")
    if not isinstance(link, str) or not link.strip():
        raise ApiError(400, "meeting_link is required.")
    name = body.get("bot_name")
    if require_bot_name and (not isinstance(name, str) or not name.strip()):
        raise ApiError(400, "bot_name is required.")
    leave = body.get("automatic_leave") or {}
    if not isinstance(leave, dict):
        raise ApiError(400, "automatic_leave must be an object.")
    in_call = _seconds(leave, "in_call_recording_timeout", 14400)
    if in_call < 600:
        raise ApiError(400, "in_call_recording_timeout must be at least 600 seconds.")
    if in_call > 18000:
        raise ApiError(400, "in_call_recording_timeout must not exceed 18000 seconds.")
    consent = _seconds(leave, "recording_permission_denied_timeout", 60)
    if consent < 60:
        raise ApiError(400, "recording_permission_denied_timeout must be at least 60 seconds.")
    if consent > 300:
        raise ApiError(400, "recording_permission_denied_timeout must not exceed 300 seconds.")
    return {"in_call": in_call, "waiting": _seconds(leave, "waiting_room_timeout", 600)}


class SimulatorState:
    """The simulated account. All API state lives here; ``reset`` empties it."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock = SimClock(config.speed, config.monotonic)
        self.signer = UrlSigner(config.url_secret or secrets.token_bytes(32), config.wall_clock)
        self.webhooks = WebhookDispatcher(config.webhook_secret)
        self.webhooks.set_faults(config.webhook_faults)
        self.faults = FaultBook(list(config.faults))
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.bots: dict[str, Bot] = {}
            self.idempotency: dict[str, str] = {}
            self.dedup: dict[str, str] = {}
            self.seq = 0
        self.clock.reset()
        self.epoch = self.config.wall_clock()  # simulated wall time of meeting-clock 0
        self.webhooks.forget()
        self.faults.clear()
        for rule in self.config.faults:
            self.faults.add(FaultRule(**rule.to_json()))
        for script in self.config.scenario.account_bots:
            self.add_account_bot(script)

    def add_account_bot(self, script: AccountBotScript) -> Bot:
        """A bot created elsewhere (no idempotency key), already `started_minutes_ago`
        into its meeting, or scheduled to join in `scheduled_in_minutes`."""
        body = {"meeting_link": script.link, "bot_name": script.bot_name}
        with self.lock:
            bot = self._new_bot(body, script.link, _validate(body, False), None)
        if script.scheduled_in_minutes is not None:
            bot.created_at = self.clock.now() + script.scheduled_in_minutes * 60
        else:
            bot.created_at = self.clock.now() - script.started_minutes_ago * 60
        return bot

    def iso(self, clock_seconds: float) -> str:
        """Simulated wall time of a meeting-clock instant, ISO-8601 UTC."""
        return datetime.fromtimestamp(self.epoch + clock_seconds, UTC).isoformat()

    def bot_time(self, bot: Bot) -> float:
        return self.clock.now() - bot.created_at

    def get_bot(self, bot_id: str) -> Bot:
        bot = self.bots.get(bot_id)
        if bot is None or bot.deleted is not None:  # deleted bots stay, for their webhook
            raise ApiError(404, "Bot not found.")
        return bot

    def describe(self, bot: Bot, *, replay: bool = False) -> dict[str, Any]:
        status = bot.timeline().status_at(self.bot_time(bot))
        return {
            "bot_id": bot.bot_id,
            "transcript_id": None if replay else bot.transcript_id,
            "meeting_url": bot.link,
            "status": status,
        }

    def create_bot(self, body: Any, idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
        """Return (HTTP status, body) for ``POST /bots/create_bot``; raises ApiError."""
        with self.lock:
            if idempotency_key and idempotency_key in self.idempotency:
                bot = self.bots.get(self.idempotency[idempotency_key])
                if bot is not None:
                    reply = self.describe(bot, replay=True)
                    return 507, {
                        "message": "Duplicate request. Returning the original result.",
                        **reply,
                    }
            if not isinstance(body, dict):
                raise ApiError(400, "Request body must be a JSON object.")
            limits = _validate(body, self.config.require_bot_name)
            link = body["meeting_link"].strip()
            dedup = body.get("deduplication_key")
            if dedup is not None and (not isinstance(dedup, str) or not 1 <= len(dedup) <= 2000):
                raise ApiError(400, "deduplication_key must be a string of 1-2000 characters.")
            if dedup and not idempotency_key and dedup in self.dedup:
                existing = self.bots.get(self.dedup[dedup])
                if existing is not None and existing.link == link:
                    return 200, self.describe(existing)
                if existing is not None:
                    raise ApiError(409, "deduplication_key is already bound to another meeting.")
            bot = self._new_bot(body, link, limits, idempotency_key)
            if idempotency_key:
                self.idempotency[idempotency_key] = bot.bot_id
            if dedup and dedup not in self.dedup:
                self.dedup[dedup] = bot.bot_id
            return 201, {**self.describe(bot), "status": "Active"}

    def _new_bot(
        self, body: dict[str, Any], link: str, limits: dict[str, float], key: str | None
    ) -> Bot:
        self.seq += 1
        # With an idempotency key the id depends on the key alone, so a restarted simulator
        # hands a re-run the same bot id (the demo's catalog stays the same run after run);
        # without one, the creation order decides, as on a real server.
        basis = f"key:{key}" if key else f"bot:{self.seq}:{link}"
        bot_id = str(uuid.uuid5(_NS, basis))
        script = self.config.scenario.script_for(link)
        bot = Bot(
            bot_id=bot_id,
            link=link,
            bot_name=str(body.get("bot_name") or "MeetStream Bot"),
            script=script,
            created_at=self.clock.now(),
            request=body,
            transcript_id=str(uuid.uuid5(_NS, f"tr:{bot_id}")) if _has_transcript(body) else None,
            audio_separate=_flag(body, "audio_separate_streams", False),
            video_separate=_flag(body, "video_separate_streams", False),
            video_required=_flag(body, "video_required", True),
            waiting_room_timeout=limits["waiting"],
            in_call_limit=limits["in_call"],
        )
        self.bots[bot_id] = bot
        for raw in script.faults:  # a meeting's scripted faults apply to its bots only
            self.faults.add(parse_fault({**raw, "bot_id": bot_id}))
        return bot
