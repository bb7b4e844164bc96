"""Deterministic fault injection: "the next N requests to endpoint X get Y".

Rules come from the server options, from a meeting's script (bound to each bot created
for that meeting) or from ``POST /_simulator/faults`` at runtime. The first rule that
matches a request is consumed (its ``count`` decremented) and applied.

Trap guarded against: random faults make flaky tests. Nothing here is random; a rule
fires exactly ``count`` times (``null`` = until cleared) and then disappears.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
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
    "media",
    "*",
)
_FIELDS = {
    "endpoint",
    "status",
    "retry_after",
    "delay",
    "drop_after_bytes",
    "expire_after",
    "count",
    "bot_id",
    "message",
}


class FaultError(ValueError):
    """A fault rule is malformed; the message names the field."""


@dataclass
class FaultRule:
    """One fault. Combine ``delay`` with ``status`` for a slow error.

    - ``status``: answer with this 4xx/5xx (``{"message": ...}``; 429 adds ``Retry-After``).
    - ``delay``: sleep this many real seconds before answering.
    - ``drop_after_bytes``: media only; send that many body bytes, then drop the connection.
    - ``expire_after``: manifest endpoints; presigned URLs issued now live this many real
      seconds instead of ``url_ttl`` (0 = already expired).
    """

    endpoint: str = "*"
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop_after_bytes: int | None = None
    expire_after: float | None = None
    count: int | None = 1
    bot_id: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
    if (
        rule.status is None
        and not rule.delay
        and rule.drop_after_bytes is None
        and (rule.expire_after is None)
    ):
        raise FaultError("a fault needs status, delay, drop_after_bytes or expire_after")
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

    def take(self, endpoint: str, bot_id: str | None) -> FaultRule | None:
        """Consume and return the first rule matching this request, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.endpoint not in ("*", endpoint):
                    continue
                if rule.bot_id is not None and rule.bot_id != bot_id:
                    continue
                if rule.drop_after_bytes is not None and endpoint != "media":
                    continue
                if rule.expire_after is not None and endpoint not in _URL_ENDPOINTS:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                return rule
        return None


_URL_ENDPOINTS = ("get_audio", "get_video", "get_audio_streams", "get_recording_streams")
