"""The `bot_events` table: every webhook the receiver accepted, appended, never rewritten.

Lifecycle and processing events (`bot.joining` ... `bot.done`) are facts with a time, so
they are appended to their own Delta table rather than written into the `bots` row: two
writers of one row (the receiver and the collecting flow) could move a bot's state
backwards, while an append-only log cannot. The latest event per bot says which meetings
are live, waiting for processing, or done (docs/catalog.md shows the query).

The table is one of the catalog's (`TABLES`): its schema is declared with the others
(`TABLE_SCHEMAS["bot_events"]`, partitioned by `event_date`), it is created with the same
table properties, and maintenance compacts, vacuums and checkpoints it like them.

An event for a bot the catalog does not know as the delivery's (`unknown_bot`) is kept too,
flagged: it started no collection, and the flag is what an operator looks for.

Traps guarded against: what a webhook may carry (only whitelisted envelope fields are
stored, never a URL, a signature or the raw body; text is cut at 500 characters), and an
append that meets a concurrent commit that changes the table's metadata (maintenance
giving an older table its properties): `append_rows` retries it like every catalog commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from meetstream_catalog.catalog.append import append_rows
from meetstream_catalog.catalog.schema import BOT_EVENTS
from meetstream_catalog.roots import Root

__all__ = ["append_events", "event_row"]


def event_row(body: Mapping[str, Any], received_at: dt.datetime) -> dict[str, Any]:
    """The stored fields of one webhook envelope."""
    stamp = _timestamp(body.get("timestamp"))
    code = body.get("status_code")
    return {
        "bot_id": str(body["bot_id"]),
        "event": str(body["event"]),
        "bot_event": _text(body.get("bot_event")),
        "bot_status": _text(body.get("bot_status")),
        "message": _text(body.get("message")),
        "status_code": code if isinstance(code, int) else None,
        "timestamp": stamp,
        "received_at": received_at,
        "event_date": (stamp or received_at).date(),
        "unknown_bot": bool(body.get("unknown_bot", False)),
    }


def append_events(root: Root | str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append `rows` (from `event_row`) to `bot_events` in one commit.

    Blocking. Raises CatalogConflictError if the commit kept conflicting.
    """
    append_rows(root, BOT_EVENTS, rows)


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:500]


def _timestamp(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
