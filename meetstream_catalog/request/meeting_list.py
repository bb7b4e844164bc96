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
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import fsspec
import pandas as pd
from pydantic import ValidationError

from meetstream_catalog.redaction import redact
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
    try:
        with fsspec.open(url, "rb", **dict(storage_options or {})) as f:
            data = f.read()
    except FileNotFoundError:
        raise MeetingListError(
            f"Meeting list {_name(url)} does not exist: create it or point {_WHERE} at it. "
            + COLUMNS_HELP
        ) from None
    except (ValueError, OSError) as exc:
        raise MeetingListError(
            f"Meeting list {_name(url)} (from {_WHERE}) cannot be read: {_reason(exc)}."
        ) from None
    return parse_meeting_list(data, url=url, suffix=suffix(url))


def parse_meeting_list(data: bytes, *, url: str, suffix: str) -> list[MeetingRequest]:
    """Validate every row of a meeting list's bytes, read as `suffix` (csv, json, ...)."""
    frame = _read_frame(data, url, suffix)
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


def suffix(url: str) -> str:
    """The list's file type from its name: `csv`, `json`, `ics`, ... (lower case)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].casefold() if "." in name else ""


def _read_frame(data: bytes, url: str, suffix: str) -> pd.DataFrame:
    try:
        if suffix == "csv":
            return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        if suffix in ("json", "jsonl"):
            return pd.read_json(io.BytesIO(data), lines=suffix == "jsonl", dtype=False)
        if suffix == "parquet":
            return pd.read_parquet(io.BytesIO(data))
    except (ValueError, OSError) as exc:
        raise MeetingListError(
            f"Meeting list {_name(url)} (from {_WHERE}) is not valid {suffix}: {_reason(exc)}. "
            + COLUMNS_HELP
        ) from None
    raise MeetingListError(
        f"Meeting list {_name(url)} (from {_WHERE}): use a .csv, .json, .jsonl or .parquet "
        "file, or an iCalendar feed (.ics). " + COLUMNS_HELP
    )


def _reason(exc: BaseException) -> str:
    return redact(" ".join(str(exc).split())[:200], drop_urls=True)


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
    return source_name(url)


def source_name(url: str) -> str:
    """The list's location as logs and errors may show it: without a query string (which
    may hold a signature) and, for an http(s) URL, without its path: a calendar's secret
    address (Google's `.../private-<token>/basic.ics`) is a credential, like a passcode."""
    text = url.strip()
    if text.lower().startswith(("http://", "https://")):
        parts = urlsplit(text)
        return f"{parts.scheme}://{parts.hostname or ''}/…"
    return text.split("?", 1)[0].split("#", 1)[0]
