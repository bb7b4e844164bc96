"""Bots that exist but are not catalogued yet: the `in_progress` rows of the `bots` table.

A bot is recorded `in_progress` (with its expected end) the moment it is created, so a run
that crashes or is interrupted leaves a row, not a lost, paid-for bot. This module finds
those rows: to refuse a second bot for a meeting that already has one inside its deadline,
and to collect the ones whose meeting should be over (`collect --pending`, the scheduled
`collect-pending` deployment).

The trap guarded here is the clock: `expected_end_at` is compared as an aware UTC instant,
and a row without one (written by an older version) counts as overdue.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from meetstream_catalog.catalog.read import read_table
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.redaction import redact_link
from meetstream_catalog.roots import Root

_COLUMNS = [
    "bot_id",
    "request_id",
    "bot_name",
    "meeting_link_redacted",
    "custom_attributes",
    "expected_end_at",
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

    def overdue(self, now: dt.datetime) -> bool:
        return self.expected_end_at is None or self.expected_end_at <= now


def in_progress(catalog_root: Root) -> list[PendingBot]:
    """Every bot whose latest row is `in_progress`."""
    rows = read_table(
        "bots",
        catalog_root,
        filters=[("outcome", "==", Outcome.IN_PROGRESS.value)],
        columns=_COLUMNS,
    )
    return [_pending({str(k): v for k, v in row.items()}) for row in rows.to_dict("records")]


def active_for(
    link: str,
    catalog_root: Root,
    *,
    now: dt.datetime | None = None,
) -> PendingBot | None:
    """An in-progress bot for this meeting address that is still inside its deadline."""
    current = now or dt.datetime.now(dt.UTC)
    address = redact_link(link)
    for bot in in_progress(catalog_root):
        if bot.meeting_link == address and not bot.overdue(current):
            return bot
    return None


def finished(bot_id: str, catalog_root: Root) -> str | None:
    """The bot's outcome if it is catalogued as finished (nothing left to collect), else
    None (unknown, in progress, partial or failed: worth collecting)."""
    rows = read_table(
        "bots",
        catalog_root,
        filters=[("bot_id", "==", bot_id)],
        columns=["outcome"],
    )
    unfinished = {Outcome.IN_PROGRESS, Outcome.PARTIAL, Outcome.FAILED}
    outcomes = [str(o) for o in rows["outcome"] if o is not None and o not in unfinished]
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
    )
