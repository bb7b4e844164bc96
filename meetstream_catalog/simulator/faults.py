"""Reproducible fault injection: "requests to endpoint X get Y", by count, rate or time.

Rules come from the server options, from a meeting's script (bound to each bot created
for that meeting) or from ``POST /_simulator/faults`` at runtime. The first rule that
matches a request and fires is consumed (its ``count`` decremented) and applied. A rule
fires on every matching request, or with a ``probability``; it is active always, for
``for_seconds`` of meeting-clock time from its first hit (a 10-minute outage), or between
the meeting-clock times ``start_at`` and ``end_at``.

Trap guarded against: random faults make flaky tests. A rule with a probability draws from
its own ``random.Random(seed)``, so the same requests in the same order fail the same way
on every run; a rule fires exactly ``count`` times (``null`` = until cleared or expired).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

ENDPOINTS = (
    "create_bot",
    "status",
    "detail",
    "remove_bot",
    "delete",
    "get_audio",
    "get_video",
    "get_audio_streams",
    "get_recording_streams",
    "get_participants",
    "get_speaker_timeline",
    "get_transcript",
    "transcriptions",
    "transcribe",
    "media",
    "*",
)
_FIELDS = {
    "endpoint",
    "status",
    "retry_after",
    "delay",
    "hold_answer",
    "drop_after_bytes",
    "expire_after",
    "count",
    "bot_id",
    "message",
    "probability",
    "seed",
    "for_seconds",
    "start_at",
    "end_at",
}


class FaultError(ValueError):
    """A fault rule is malformed; the message names the field."""


@dataclass
class FaultRule:
    """One fault. Combine ``delay`` with ``status`` for a slow error.

    - ``status``: answer with this 4xx/5xx (``{"message": ...}``; 429 adds ``Retry-After``).
    - ``delay``: sleep this many real seconds before the request takes effect.
    - ``hold_answer``: the request takes effect (a bot is created), then its answer is held
      this many real seconds: a client that dies meanwhile never learns what it caused.
    - ``drop_after_bytes``: media only; send that many body bytes, then drop the connection.
    - ``expire_after``: manifest endpoints; presigned URLs issued now live this many real
      seconds instead of ``url_ttl`` (0 = already expired).
    - ``probability``: fire on this share of matching requests (seeded by ``seed``).
    - ``for_seconds``: active for this many meeting-clock seconds from its first hit.
    - ``start_at`` / ``end_at``: active only between these meeting-clock seconds.
    """

    endpoint: str = "*"
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    hold_answer: float = 0.0
    drop_after_bytes: int | None = None
    expire_after: float | None = None
    count: int | None = 1
    bot_id: str | None = None
    message: str | None = None
    probability: float | None = None
    seed: int = 0
    for_seconds: float | None = None
    start_at: float | None = None
    end_at: float | None = None
    first_hit: float | None = field(default=None, repr=False)
    _rng: random.Random | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["_rng"]
        return data

    def expired(self, now: float) -> bool:
        """Past its window, for good."""
        if self.end_at is not None and now >= self.end_at:
            return True
        return (
            self.for_seconds is not None
            and self.first_hit is not None
            and now >= self.first_hit + self.for_seconds
        )

    def fires(self, now: float) -> bool:
        """Whether this matching request gets the fault (draws for a probability)."""
        if self.start_at is not None and now < self.start_at:
            return False
        if self.probability is None:
            return True
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng.random() < self.probability


def parse_fault(raw: Any) -> FaultRule:
    """Validate a fault rule given as a mapping (JSON, YAML or CLI)."""
    if not isinstance(raw, dict):
        raise FaultError("a fault rule must be a mapping")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise FaultError(f"unknown fault field(s) {sorted(unknown)}")
    rule = FaultRule(**raw)
    if rule.endpoint not in ENDPOINTS:
        raise FaultError(f"endpoint must be one of {ENDPOINTS}")
    if rule.status is not None and not 400 <= int(rule.status) <= 599:
        raise FaultError("status must be a 4xx or 5xx code")
    if rule.count is not None and int(rule.count) < 1:
        raise FaultError("count must be >= 1 or null (until cleared)")
    if rule.probability is not None and not 0 < float(rule.probability) <= 1:
        raise FaultError("probability must be in (0, 1]")
    if rule.for_seconds is not None and float(rule.for_seconds) <= 0:
        raise FaultError("for_seconds must be > 0")
    if rule.start_at is not None and rule.end_at is not None and rule.end_at <= rule.start_at:
        raise FaultError("end_at must be after start_at")
    if (
        rule.status is None
        and not rule.delay
        and not rule.hold_answer
        and rule.drop_after_bytes is None
        and (rule.expire_after is None)
    ):
        raise FaultError(
            "a fault needs status, delay, hold_answer, drop_after_bytes or expire_after"
        )
    if rule.hold_answer and rule.status is not None:
        raise FaultError("hold_answer holds a real answer: it cannot have a status")
    return rule


class FaultBook:
    """The active rules, in insertion order. Thread-safe (admin calls race requests)."""

    def __init__(self, rules: list[FaultRule] | None = None) -> None:
        self._rules = list(rules or [])
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, endpoint: str, bot_id: str | None, now: float = 0.0) -> FaultRule | None:
        """Consume and return the first rule that matches this request and fires, if any.

        `now` is the meeting clock, for rules bounded in time.
        """
        with self._lock:
            self._rules = [r for r in self._rules if not r.expired(now)]
            for rule in self._rules:
                if rule.endpoint not in ("*", endpoint):
                    continue
                if rule.bot_id is not None and rule.bot_id != bot_id:
                    continue
                if rule.drop_after_bytes is not None and endpoint != "media":
                    continue
                if rule.expire_after is not None and endpoint not in _URL_ENDPOINTS:
                    continue
                if not rule.fires(now):
                    continue
                if rule.first_hit is None:
                    rule.first_hit = now
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                return rule
        return None


_URL_ENDPOINTS = ("get_audio", "get_video", "get_audio_streams", "get_recording_streams")
