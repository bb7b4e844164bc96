"""The scheduled batch's input: a list of meetings in CSV, JSON or Parquet at a URL.

One row per meeting (`COLUMNS_HELP`; docs/deploy.md has an example, and so does
`docs/meetings.example.csv`). Traps guarded here: a bad row silently skipped (each row is
validated and the error names the file, the row and the field); a list that cannot be
read failing with a bare traceback (the error names the file, the setting and the expected
columns); a passcode in a link reaching the run's parameters (rows become requests through
`MeetingRequest.from_link`); and time zones (`due` decides the window in UTC, so a list
written in local time cannot shift meetings by hours).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import fsspec
import pandas as pd
from pydantic import ValidationError

from meetstream_catalog.request.meeting import MeetingRequest, as_utc

COLUMNS_HELP = (
    "Expected columns: meeting_link (required), join_at (ISO-8601 with a zone; required "
    "for a meeting to be scheduled), and optionally bot_name, request_id, "
    "max_meeting_minutes, custom_attributes (a JSON object)."
)
_WHERE = "MEETSTREAM_MEETINGS_URL (or the meetings_url parameter)"


class MeetingListError(ValueError):
    """The meeting list cannot be read; the message names the file, row and field to fix."""


def read_meeting_list(
    url: str, *, storage_options: Mapping[str, object] | None = None
) -> list[MeetingRequest]:
    """Read and validate every row of a .csv, .json/.jsonl or .parquet meeting list."""
    frame = _read_frame(url, dict(storage_options or {}))
    if "meeting_link" not in frame.columns:
        raise MeetingListError(
            f"Meeting list {_name(url)} (from {_WHERE}) has no meeting_link column. " + COLUMNS_HELP
        )
    requests = []
    for number, row in enumerate(frame.to_dict(orient="records"), start=1):
        requests.append(_request({str(k): v for k, v in row.items()}, number, url))
    return requests


def due(
    requests: Sequence[MeetingRequest], *, now: dt.datetime, window: dt.timedelta
) -> list[MeetingRequest]:
    """The requests whose join time falls in [now, now + window)."""
    start = as_utc(now)
    return [r for r in requests if r.join_at and start <= r.join_at < start + window]


def _read_frame(url: str, options: dict[str, object]) -> pd.DataFrame:
    suffix = url.rsplit("?", 1)[0].rsplit(".", 1)[-1].casefold()
    try:
        with fsspec.open(url, "rb", **options) as f:
            if suffix == "csv":
                return pd.read_csv(f, dtype=str, keep_default_na=False)
            if suffix in ("json", "jsonl"):
                return pd.read_json(f, lines=suffix == "jsonl", dtype=False)
            if suffix == "parquet":
                return pd.read_parquet(f)
    except FileNotFoundError:
        raise MeetingListError(
            f"Meeting list {_name(url)} does not exist: create it or point {_WHERE} at it. "
            + COLUMNS_HELP
        ) from None
    except (ValueError, OSError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise MeetingListError(
            f"Meeting list {_name(url)} (from {_WHERE}) is not valid {suffix}: {reason}. "
            + COLUMNS_HELP
        ) from None
    raise MeetingListError(
        f"Meeting list {_name(url)} (from {_WHERE}): use a .csv, .json, .jsonl or .parquet "
        "file. " + COLUMNS_HELP
    )


def _request(row: dict[str, Any], number: int, url: str) -> MeetingRequest:
    data = {k: v for k, v in row.items() if not _blank(v)}
    attributes = data.get("custom_attributes")
    if isinstance(attributes, str):
        try:
            data["custom_attributes"] = json.loads(attributes)
        except json.JSONDecodeError as exc:
            raise MeetingListError(
                f"{_name(url)} row {number}: custom_attributes is not a JSON object."
            ) from exc
    if isinstance(data.get("join_at"), pd.Timestamp):
        data["join_at"] = data["join_at"].to_pydatetime()
    link = str(data.pop("meeting_link", ""))
    try:
        return MeetingRequest.from_link(link, **data)
    except (ValidationError, ValueError) as exc:
        if not isinstance(exc, ValidationError):
            raise MeetingListError(f"{_name(url)} row {number}: meeting_link: {exc}") from None
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MeetingListError(f"{_name(url)} row {number}: {problems}") from None


def _blank(value: object) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    return isinstance(value, float) and pd.isna(value)


def _name(url: str) -> str:
    """The list's location without a query string (which may hold a signature)."""
    return url.split("?", 1)[0]
