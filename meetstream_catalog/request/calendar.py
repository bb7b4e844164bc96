"""An iCalendar feed as a meeting list: one request per occurrence in a window.

Recurrences (`RRULE`, `RDATE`, `EXDATE`, moved occurrences with `RECURRENCE-ID`) are
expanded by `recurring_ical_events` over the `icalendar` parse: a well-kept library, not
our own RFC 5545 arithmetic. Traps guarded here:

- the idempotency key. An occurrence is one meeting, whatever window or worker sees it:
  its `request_id` is `ical:<UID>` for a single event and `ical:<UID>@<original start,
  UTC>` for an occurrence of a series (its `RECURRENCE-ID`, which a moved occurrence
  keeps), so a moved meeting keeps its bot and `request_key` does the rest;
- time zones. `TZID` times are converted to UTC; floating times (no zone) are read in
  `CalendarRules.floating_zone` (MEETSTREAM_CALENDAR_FLOATING_TIMEZONE, default UTC); an
  all-day event has no meeting time and is skipped, link or not;
- what not to join: `STATUS:CANCELLED`, the owner's `PARTSTAT=DECLINED` (the owner is
  MEETSTREAM_CALENDAR_OWNER: a feed does not say whose it is), `TRANSP:TRANSPARENT` (free
  time; configurable), and the include/exclude rules.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field

import recurring_ical_events  # type: ignore[import-untyped]  # no py.typed marker
from icalendar import Calendar, Component

from meetstream_catalog.request.calendar_links import find_link
from meetstream_catalog.request.links import InvalidMeetingLinkError
from meetstream_catalog.request.meeting import MeetingRequest, as_utc
from meetstream_catalog.settings import Settings

__all__ = ["CalendarError", "CalendarRules", "Expansion", "Occurrence", "expand", "parse"]

# The longest a recorder stays: MeetingRequest's bounds, with a margin past the event's end.
_MIN_MINUTES, _MAX_MINUTES, _MARGIN_MINUTES = 10, 300, 15


class CalendarError(ValueError):
    """The feed cannot be used; the message says why (the caller names the feed)."""


@dataclass(frozen=True)
class CalendarRules:
    """Which events of a feed are meetings to capture (settings `MEETSTREAM_CALENDAR_*`)."""

    owner: str | None = None  # whose calendar: their declined events are skipped
    floating_zone: str = "UTC"
    skip_transparent: bool = True
    title_include: str | None = None  # a regex the title must match (search, any case)
    title_exclude: str | None = None  # a regex the title must not match
    organizer_domains: tuple[str, ...] = ()  # only events organized from these domains
    min_attendees: int = 0
    bot_name: str = "Meeting Recorder"

    @classmethod
    def of(cls, settings: Settings) -> CalendarRules:
        domains = (settings.calendar_organizer_domains or "").split(",")
        return cls(
            owner=settings.calendar_owner,
            floating_zone=settings.calendar_floating_timezone,
            skip_transparent=settings.calendar_skip_transparent,
            title_include=settings.calendar_title_include,
            title_exclude=settings.calendar_title_exclude,
            organizer_domains=tuple(d.strip().lstrip("@").casefold() for d in domains if d.strip()),
            min_attendees=settings.calendar_min_attendees,
        )


@dataclass(frozen=True)
class Occurrence:
    """One meeting of the feed: its event's UID, title, start (UTC) and request."""

    uid: str
    title: str
    start: dt.datetime
    request: MeetingRequest


@dataclass(frozen=True)
class Expansion:
    """The occurrences in the window, and how many were skipped, by reason."""

    occurrences: list[Occurrence]
    skipped: Counter[str] = field(default_factory=Counter)


def parse(data: bytes) -> Calendar:
    """The feed as a calendar; raises CalendarError if it is not one, or has no event with
    a meeting link at all (a wrong URL, or a feed published without details)."""
    try:
        calendar = Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise CalendarError(f"is not a valid iCalendar feed ({reason})") from None
    if isinstance(calendar, list) or calendar.name != "VCALENDAR":
        raise CalendarError("is not a single iCalendar VCALENDAR")
    events = calendar.walk("VEVENT")
    if not events:
        raise CalendarError("has no events (VEVENT)")
    if not any(find_link(event) for event in events):
        raise CalendarError(
            "has no Zoom, Google Meet or Teams link in any event (a feed published with "
            "free/busy only has none: publish it with details)"
        )
    return calendar


def expand(
    calendar: Calendar, *, start: dt.datetime, end: dt.datetime, rules: CalendarRules
) -> Expansion:
    """Every occurrence whose start is in [start, end), as a meeting request."""
    floating = _zone(rules.floating_zone)
    for setting, pattern in (("INCLUDE", rules.title_include), ("EXCLUDE", rules.title_exclude)):
        _check_pattern(f"MEETSTREAM_CALENDAR_TITLE_{setting}", pattern)
    series = _series_uids(calendar)
    start, end = as_utc(start), as_utc(end)
    # Widened by a day each way: floating times are compared after conversion below.
    found = recurring_ical_events.of(calendar).between(
        start - dt.timedelta(days=1), end + dt.timedelta(days=1)
    )
    expansion = Expansion([])
    for event in found:
        begins = event.get("DTSTART")
        if begins is None or not isinstance(begins.dt, dt.datetime):
            expansion.skipped["all-day"] += int(begins is not None)
            continue
        moment = _utc(begins.dt, floating)
        if not start <= moment < end:
            continue
        reason = _skip_reason(event, rules)
        if reason:
            expansion.skipped[reason] += 1
            continue
        occurrence = _occurrence(event, moment, series, floating, rules)
        if occurrence is None:
            expansion.skipped["no meeting link"] += 1
        else:
            expansion.occurrences.append(occurrence)
    expansion.occurrences.sort(key=lambda o: (o.start, o.uid))
    return expansion


def _skip_reason(event: Component, rules: CalendarRules) -> str | None:
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return "cancelled"
    if rules.skip_transparent and str(event.get("TRANSP", "")).upper() == "TRANSPARENT":
        return "free (transparent)"
    attendees = _values(event.get("ATTENDEE"))
    if rules.owner and any(
        _address(a) == rules.owner.casefold()
        and str(getattr(a, "params", {}).get("PARTSTAT", "")).upper() == "DECLINED"
        for a in attendees
    ):
        return "declined"
    title = str(event.get("SUMMARY", ""))
    if rules.title_include and not re.search(rules.title_include, title, re.IGNORECASE):
        return "title not included"
    if rules.title_exclude and re.search(rules.title_exclude, title, re.IGNORECASE):
        return "title excluded"
    if rules.organizer_domains:
        domain = _address(event.get("ORGANIZER")).rpartition("@")[2]
        if domain not in rules.organizer_domains:
            return "organizer's domain"
    if len(attendees) < rules.min_attendees:
        return "too few attendees"
    return None


def _occurrence(
    event: Component,
    moment: dt.datetime,
    series: set[str],
    floating: dt.tzinfo,
    rules: CalendarRules,
) -> Occurrence | None:
    link = find_link(event)
    if link is None:
        return None
    uid = str(event.get("UID", "")).strip()
    title = str(event.get("SUMMARY", "")).strip()
    request_id = f"ical:{uid}"
    original = event.get("RECURRENCE-ID")
    if uid in series and original is not None:  # the series' original start, kept if moved
        when = original.dt
        if isinstance(when, dt.datetime):
            request_id += f"@{_utc(when, floating).isoformat()}"
        else:
            request_id += f"@{when.isoformat()}"
    elif not uid:  # no UID (invalid, but seen): the start is all there is
        request_id += f"@{moment.isoformat()}"
    try:
        request = MeetingRequest.from_link(
            link,
            request_id=request_id,
            join_at=moment,
            bot_name=rules.bot_name,
            max_meeting_minutes=_minutes(event, moment, floating),
            custom_attributes={"calendar_uid": uid[:200], "event_title": title[:200]},
        )
    except (InvalidMeetingLinkError, ValueError):
        return None
    return Occurrence(uid=uid, title=title, start=moment, request=request)


def _minutes(event: Component, moment: dt.datetime, floating: dt.tzinfo) -> int:
    """How long the recorder may stay: the event's length and a margin, within bounds."""
    ends = event.get("DTEND")
    if ends is None or not isinstance(ends.dt, dt.datetime):
        return 240
    length = (_utc(ends.dt, floating) - moment).total_seconds() / 60
    return int(min(_MAX_MINUTES, max(_MIN_MINUTES, length + _MARGIN_MINUTES)))


def _series_uids(calendar: Calendar) -> set[str]:
    """UIDs of recurring events: their occurrences are told apart by original start."""
    return {
        str(e.get("UID", "")).strip()
        for e in calendar.walk("VEVENT")
        if any(name in e for name in ("RRULE", "RDATE", "RECURRENCE-ID"))
    }


def _utc(moment: dt.datetime, floating: dt.tzinfo) -> dt.datetime:
    return as_utc(moment if moment.tzinfo is not None else moment.replace(tzinfo=floating))


def _zone(name: str) -> dt.tzinfo:
    try:
        return dt.UTC if name.upper() == "UTC" else zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            f"cannot be read: MEETSTREAM_CALENDAR_FLOATING_TIMEZONE {name!r} is not a time "
            "zone (use an IANA name such as Europe/Berlin, or UTC)"
        ) from None


def _check_pattern(setting: str, pattern: str | None) -> None:
    try:
        re.compile(pattern or "")
    except re.error as exc:
        raise CalendarError(f"cannot be filtered: {setting} is not a valid regex ({exc})") from None


def _values(prop: object) -> list[object]:
    if prop is None:
        return []
    return list(prop) if isinstance(prop, list) else [prop]


def _address(prop: object) -> str:
    """`mailto:Ana@Acme.com` -> `ana@acme.com` ('' without one)."""
    text = str(prop or "").strip()
    return text.split(":", 1)[1].casefold() if text.lower().startswith("mailto:") else ""
