"""The scheduled batch's meetings in a window, from any meeting list: a table (CSV, JSON,
Parquet: `meeting_list`) or an iCalendar feed (`calendar`), at a path, `s3://` or
`http(s)://` URL.

The feed's kind is told by its name (`.ics`), the server's `Content-Type`
(`text/calendar`) or its first line (`BEGIN:VCALENDAR`). Traps guarded here: the feed's
address is a credential (a Google secret address or an Outlook published calendar reads
the whole calendar), so an error names it by `source_name` only (scheme and host), never
with an exception's text that may repeat it; and a list that cannot be read fails the run
in one line (`MeetingListError`) before any bot is created.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import fsspec
import httpx

from meetstream_catalog.request import calendar
from meetstream_catalog.request.calendar import CalendarRules
from meetstream_catalog.request.links import platform_from_link
from meetstream_catalog.request.meeting import MeetingRequest, as_utc
from meetstream_catalog.request.meeting_list import (
    MeetingListError,
    parse_meeting_list,
    source_name,
    suffix,
)

__all__ = ["ListedMeeting", "Listing", "meetings_between", "source_name"]

_ICS_SUFFIXES = ("ics", "ical", "ifb", "icalendar")
_FETCH_TIMEOUT_SECONDS = 30.0
_REDIRECTS = 5


@dataclass(frozen=True)
class ListedMeeting:
    """One meeting of a list in the window: what `meetings list` prints, and its request."""

    request: MeetingRequest
    uid: str  # the calendar event's UID; a table's request_id ('' without one)
    title: str
    source: str  # the list's location, redacted (`source_name`)

    def row(self) -> dict[str, str]:
        """One line of `meetings list`: no passcode (the link is the meeting's address)."""
        start = self.request.join_at
        return {
            "uid": self.uid,
            "start": start.isoformat() if start else "",
            "title": self.title,
            "link": self.request.meeting_link,
            "platform": platform_from_link(self.request.meeting_link) or "",
            "source": self.source,
        }


@dataclass(frozen=True)
class Listing:
    """The meetings of a list joining in the window, how many it lists, what was skipped."""

    meetings: list[ListedMeeting]
    listed: int
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> list[MeetingRequest]:
        return [m.request for m in self.meetings]


def meetings_between(
    url: str,
    *,
    start: dt.datetime,
    end: dt.datetime,
    rules: CalendarRules,
    storage_options: Mapping[str, object] | None = None,
) -> Listing:
    """The meetings of the list at `url` whose join time is in [start, end).

    Raises MeetingListError (one line naming the list, redacted) when the list cannot be
    read or used; blocking (runs in a thread in the flows)."""
    name = source_name(url)
    data, content_type = _fetch(url, dict(storage_options or {}))
    if not _is_calendar(url, content_type, data):
        kind = "csv" if "csv" in content_type and not suffix(url) else suffix(url)
        requests = parse_meeting_list(data, url=url, suffix=kind)
        due = [r for r in requests if r.join_at and as_utc(start) <= r.join_at < as_utc(end)]
        return Listing([_from_table(r, name) for r in due], listed=len(requests))
    try:
        feed = calendar.parse(data)
        expansion = calendar.expand(feed, start=start, end=end, rules=rules)
    except calendar.CalendarError as exc:
        raise MeetingListError(f"Calendar feed {name} {exc}") from None
    meetings = [ListedMeeting(o.request, o.uid, o.title, name) for o in expansion.occurrences]
    return Listing(meetings, listed=len(feed.walk("VEVENT")), skipped=expansion.skipped)


def _from_table(request: MeetingRequest, name: str) -> ListedMeeting:
    title = request.custom_attributes.get("title", "")
    return ListedMeeting(request, request.request_id or "", title, name)


def _is_calendar(url: str, content_type: str, data: bytes) -> bool:
    if suffix(url) in _ICS_SUFFIXES or "text/calendar" in content_type:
        return True
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].upper() == b"BEGIN:VCALENDAR"


def _get(url: str) -> httpx.Response:
    """GET `url`, following up to `_REDIRECTS` redirects, through httpx's transport: its
    client logs every request line with the URL's path, which is the credential here."""
    timeout = httpx.Timeout(_FETCH_TIMEOUT_SECONDS).as_dict()
    with httpx.HTTPTransport(retries=1) as transport:
        for _ in range(_REDIRECTS + 1):
            request = httpx.Request("GET", url, extensions={"timeout": timeout})
            response = transport.handle_request(request)
            response.read()
            location = response.headers.get("location")
            if not (response.is_redirect and location):
                return response
            url = str(request.url.join(location))
    return response  # still a redirect: refused by the caller


def _fetch(url: str, options: dict[str, object]) -> tuple[bytes, str]:
    """The list's bytes and, from an http(s) server, its content type (lower case)."""
    name = source_name(url)
    if url.strip().lower().startswith(("http://", "https://")):
        try:
            response = _get(url.strip())
        except httpx.HTTPError as exc:  # its text repeats the URL: only the kind is shown
            raise MeetingListError(
                f"Meeting list {name} is unreachable ({type(exc).__name__})"
            ) from None
        if response.status_code >= 400 or response.is_redirect:
            raise MeetingListError(
                f"Meeting list {name} answered HTTP {response.status_code}: check "
                "MEETSTREAM_MEETINGS_URL (a calendar's secret address changes when it is reset)"
            )
        return response.content, response.headers.get("content-type", "").casefold()
    try:
        with fsspec.open(url, "rb", **options) as f:
            data: bytes = f.read()
    except FileNotFoundError:
        raise MeetingListError(
            f"Meeting list {name} does not exist: create it or point MEETSTREAM_MEETINGS_URL at it"
        ) from None
    except (ValueError, OSError) as exc:
        raise MeetingListError(
            f"Meeting list {name} cannot be read ({type(exc).__name__})"
        ) from None
    return data, ""
