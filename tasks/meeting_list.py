"""The scheduled batch's input: a list of meetings in CSV, JSON or Parquet at a URL.

One row per meeting: `meeting_link` (required), and optionally `bot_name`, `join_at`
(ISO-8601; without a zone it is read as UTC), `request_id`, `max_meeting_minutes`,
`custom_attributes` (a JSON object, or a mapping in JSON/Parquet). The trap guarded here is
a bad row silently skipped or a whole batch failing on one typo: each row is validated and
the error names the row and the field, and `due` decides the window in UTC so a list
written in local time cannot shift meetings by hours.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import fsspec
import pandas as pd
from pydantic import ValidationError

from tasks.request import MeetingRequest


class MeetingListError(ValueError):
    """The meeting list cannot be read; the message names the row and field to fix."""


def read_meeting_list(
    url: str, *, storage_options: Mapping[str, object] | None = None
) -> list[MeetingRequest]:
    """Read and validate every row of a .csv, .json/.jsonl or .parquet meeting list."""
    frame = _read_frame(url, dict(storage_options or {}))
    if "meeting_link" not in frame.columns:
        raise MeetingListError(f"{_name(url)} has no 'meeting_link' column: add one.")
    requests = []
    for number, row in enumerate(frame.to_dict(orient="records"), start=1):
        requests.append(_request({str(k): v for k, v in row.items()}, number, url))
    return requests


def due(
    requests: Sequence[MeetingRequest], *, now: dt.datetime, window: dt.timedelta
) -> list[MeetingRequest]:
    """The requests whose join time falls in [now, now + window)."""
    start = _utc(now)
    return [r for r in requests if r.join_at and start <= _utc(r.join_at) < start + window]


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
    except FileNotFoundError as exc:
        raise MeetingListError(f"Meeting list {_name(url)} does not exist.") from exc
    except ValueError as exc:
        raise MeetingListError(f"Meeting list {_name(url)} is not valid {suffix}: {exc}") from exc
    raise MeetingListError(f"{_name(url)}: use a .csv, .json, .jsonl or .parquet file.")


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
    try:
        return MeetingRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MeetingListError(f"{_name(url)} row {number}: {problems}") from None


def _blank(value: object) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    return isinstance(value, float) and pd.isna(value)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _name(url: str) -> str:
    """The list's location without a query string (which may hold a signature)."""
    return url.split("?", 1)[0]
