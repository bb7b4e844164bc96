"""Bots that exist (or may) but are not catalogued yet: `in_progress` rows of the `bots`
table, and intents (`catalog.intents`) whose create call's answer was never recorded.

Before a create call, its intent is appended; once the bot exists it is recorded
`in_progress` (with its expected end). A run that crashes or is interrupted at any instant
leaves one of the two, not a lost, paid-for bot. This module finds them: to recognise the
same request run again (`same_request`: resume its bot, or re-send its create call with
the same key), and to collect the bots whose meeting should be over (`collect --pending`,
the scheduled `collect-pending` deployment).

The trap guarded here is the clock: `expected_end_at` is compared as an aware UTC instant,
and a row without one (written by an older version) counts as overdue.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from meetstream_catalog.catalog import intents
from meetstream_catalog.catalog.read import read_table
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.redaction import redact_link
from meetstream_catalog.request import MeetingRequest, request_key
from meetstream_catalog.roots import Root

_SETTLED_AFTER = dt.timedelta(days=1)
# Outcomes a collect can still improve: everything else is final.
UNFINISHED = frozenset({Outcome.IN_PROGRESS, Outcome.PARTIAL, Outcome.FAILED})
_COLUMNS = [
    "bot_id",
    "request_id",
    "bot_name",
    "meeting_link_redacted",
    "custom_attributes",
    "expected_end_at",
    "outcome",
    "source",
]


@dataclass(frozen=True)
class PendingBot:
    """An `in_progress` bot: enough to collect it, and to say so."""

    bot_id: str
    key: str
    meeting_link: str  # the redacted address the bots row holds
    bot_name: str
    custom_attributes: dict[str, str]
    expected_end_at: dt.datetime | None
    outcome: str = Outcome.IN_PROGRESS.value
    source: str | None = None  # 'account': found at the account by reconciliation

    def overdue(self, now: dt.datetime) -> bool:
        return self.expected_end_at is None or self.expected_end_at <= now


def in_progress(catalog_root: Root) -> list[PendingBot]:
    """Every bot whose latest row is `in_progress`."""
    return _bots(catalog_root, ("outcome", "==", Outcome.IN_PROGRESS.value))


@dataclass(frozen=True)
class Resume:
    """Where an earlier invocation of the same request left off: the key its create call
    was sent with, and its bot if one is recorded (None: the answer was never recorded,
    so the create call is re-sent with the same key and MeetStream replays the bot)."""

    key: str
    bot_id: str | None = None
    outcome: str | None = None  # the bot's outcome in the catalog, if it has a row
    expected_end_at: dt.datetime | None = None

    @property
    def finished(self) -> bool:
        """Catalogued with a final outcome: a collect cannot improve it."""
        return self.outcome is not None and self.outcome not in UNFINISHED


def same_request(
    request: MeetingRequest, catalog_root: Root, *, now: dt.datetime | None = None
) -> Resume | None:
    """The earlier invocation of this request, if there is one.

    Two invocations are the same request when they carry the same request id; else the same
    meeting address and join time; else (both "join now") the same meeting address within
    the earlier one's deadline (its longest meeting, the longest waiting room and a margin:
    `Intent.expires_at`), finished or not. Re-running a capture therefore resumes, completes
    or re-catalogues its bot, never sends another; `--new-bot` does. The recorder's name
    does not make another request: two bots in one meeting is what `--new-bot` is for.
    """
    current = now or dt.datetime.now(dt.UTC)
    key = request_key(request)
    if key is not None:  # the key itself is the request's identity
        known = _bots(catalog_root, ("request_id", "==", key))
        return Resume(key, known[0].bot_id, known[0].outcome) if known else None
    address = redact_link(request.meeting_link)
    known = _bots(catalog_root, ("meeting_link_redacted", "==", address))
    by_key = {bot.key: bot for bot in known if bot.key}
    for intent in intents.latest(catalog_root, meeting_link=address):
        if intent.join_at is None and intent.live(current):
            found = by_key.get(intent.key)
            if found is None:
                return Resume(intent.key, None, None, intent.expires_at)
            return Resume(intent.key, found.bot_id, found.outcome, found.expected_end_at)
    for bot in known:  # a bot recorded before intents existed
        if bot.key and bot.outcome == Outcome.IN_PROGRESS and not bot.overdue(current):
            return Resume(bot.key, bot.bot_id, bot.outcome, bot.expected_end_at)
    return None


def _bots(catalog_root: Root, where: tuple[str, str, str]) -> list[PendingBot]:
    rows = read_table("bots", catalog_root, filters=[where], columns=_COLUMNS)
    return [_pending({str(k): v for k, v in row.items()}) for row in rows.to_dict("records")]


def unresolved(catalog_root: Root, *, now: dt.datetime | None = None) -> list[intents.Intent]:
    """Intents still `creating` with no `bots` row for their key: a create call whose
    answer was never recorded (the process died, or the call's outcome was unknown).
    Those more than a day past their deadline are left out: `collect --pending` settled
    them as `abandoned` when it first saw them overdue."""
    current = now or dt.datetime.now(dt.UTC)
    open_ = [
        i
        for i in intents.latest(catalog_root)
        if i.state is intents.IntentState.CREATING and i.expires_at > current - _SETTLED_AFTER
    ]
    if not open_:
        return []
    keys = [i.key for i in open_]
    known = read_table(
        "bots", catalog_root, filters=[("request_id", "in", keys)], columns=["request_id"]
    )
    recorded = set(known["request_id"])
    return [i for i in open_ if i.key not in recorded]


@dataclass(frozen=True)
class KnownBot:
    """A catalogued bot as the webhook receiver needs it: the idempotency key it was created
    with (`bots.request_id`; None for a bot collected by id) and whether it is finished."""

    request_id: str | None
    finished: bool


def known_bots(catalog_root: Root) -> dict[str, KnownBot]:
    """Every bot of the `bots` table, by id (three columns read)."""
    rows = read_table("bots", catalog_root, columns=["bot_id", "request_id", "outcome"])
    return {
        str(bot): KnownBot(
            str(key) if isinstance(key, str) and key else None,
            outcome is not None and outcome not in UNFINISHED,
        )
        for bot, key, outcome in zip(rows.bot_id, rows.request_id, rows.outcome, strict=True)
    }


def finished(bot_id: str, catalog_root: Root) -> str | None:
    """The bot's outcome if it is catalogued as finished (nothing left to collect), else
    None (unknown, in progress, partial or failed: worth collecting)."""
    rows = read_table(
        "bots",
        catalog_root,
        filters=[("bot_id", "==", bot_id)],
        columns=["outcome"],
    )
    outcomes = [str(o) for o in rows["outcome"] if o is not None and o not in UNFINISHED]
    return outcomes[0] if outcomes else None


def _pending(row: dict[str, Any]) -> PendingBot:
    end = row.get("expected_end_at")
    expected = None if end is None or pd.isna(end) else pd.Timestamp(end).to_pydatetime()
    attributes = json.loads(row.get("custom_attributes") or "{}")
    return PendingBot(
        bot_id=str(row["bot_id"]),
        key=str(row.get("request_id") or ""),
        meeting_link=str(row.get("meeting_link_redacted") or ""),
        bot_name=str(row.get("bot_name") or ""),
        custom_attributes={str(k): str(v) for k, v in attributes.items()},
        expected_end_at=expected,
        outcome=str(row.get("outcome") or Outcome.IN_PROGRESS.value),
        source=str(row["source"]) if isinstance(row.get("source"), str) else None,
    )
