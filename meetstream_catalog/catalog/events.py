"""The `bot_events` table: every webhook the receiver accepted, appended, never rewritten.

Lifecycle and processing events (`bot.joining` ... `bot.done`) are facts with a time, so
they are appended to their own Delta table rather than written into the `bots` row: two
writers of one row (the receiver and the collecting flow) could move a bot's state
backwards, while an append-only log cannot. The latest event per bot says which meetings
are live, waiting for processing, or done (`latest_status`).

The trap guarded here is what a webhook may carry: only whitelisted envelope fields are
stored (never a URL, a signature or the raw body).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from meetstream_catalog.catalog import delta_storage_options, table_uri

TABLE = "bot_events"
_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field("bot_id", pa.string(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("bot_event", pa.string()),
        pa.field("bot_status", pa.string()),
        pa.field("message", pa.string()),
        pa.field("status_code", pa.int64()),
        pa.field("timestamp", _TS),
        pa.field("received_at", _TS, nullable=False),
        pa.field("event_date", pa.date32(), nullable=False),
    ]
)


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
    }


def append_events(
    root: str, rows: Sequence[Mapping[str, Any]], storage_options: Mapping[str, Any] | None
) -> None:
    """Append `rows` in one commit (appends never conflict with each other)."""
    if not rows:
        return
    data = pa.Table.from_pylist([dict(r) for r in rows], schema=SCHEMA)
    write_deltalake(
        table_uri(TABLE, root),
        data,
        mode="append",
        partition_by=["event_date"],
        storage_options=delta_storage_options(storage_options, root),
    )


def latest_status(
    root: str, storage_options: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """`{bot_id: its latest event row}` by event timestamp (receipt time when absent)."""
    try:
        table = DeltaTable(
            table_uri(TABLE, root), storage_options=delta_storage_options(storage_options, root)
        )
    except TableNotFoundError:
        return {}
    latest: dict[str, dict[str, Any]] = {}
    for row in pa.table(table.to_pyarrow_table()).to_pylist():
        when = row.get("timestamp") or row["received_at"]
        seen = latest.get(str(row["bot_id"]))
        if seen is None or when >= (seen.get("timestamp") or seen["received_at"]):
            latest[str(row["bot_id"])] = {str(k): v for k, v in row.items()}
    return latest


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
