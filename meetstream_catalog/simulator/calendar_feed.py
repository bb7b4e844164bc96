"""An example iCalendar feed of the simulator's demo meetings, relative to now.

Served by the simulator at `/example/meetings.ics` and written by `meetstream-catalog
example-meetings --format ics`, so the scheduled batch's calendar path can be tried
offline. It shows what a real feed holds: a weekly Zoom meeting (vanity host, passcode in
the link) with a moved occurrence and an exception date, a daily Google Meet (link in
`X-GOOGLE-CONFERENCE`), a Teams meeting (link in `X-MICROSOFT-SKYPETEAMSMEETINGURL`) and a
cancelled event, each starting in one of the next scheduled windows.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from icalendar import Event

__all__ = ["example_calendar", "example_feed"]

ZOOM = "https://zoom.us/j/1000000001?pwd=demo"
MEET = "https://meet.google.com/abc-defg-hij"
TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_demo%40thread.v2/0"


async def example_feed(request: Request) -> Response:
    """`GET /example/meetings.ics` (no key): the feed from the simulated wall clock's now."""
    now = dt.datetime.fromtimestamp(request.app.state.sim.config.wall_clock(), dt.UTC)
    return Response(example_calendar(now), media_type="text/calendar")


def example_calendar(now: dt.datetime, *, window_minutes: int = 15) -> bytes:
    """The feed's bytes: each meeting's first occurrence joins 1 minute into one of the next
    windows after `now` (aware)."""
    from icalendar import Calendar  # lazily: the simulator starts without it

    window = dt.timedelta(minutes=window_minutes)
    now = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    first = now - dt.timedelta(minutes=now.minute % window_minutes) + window
    starts = [first + n * window + dt.timedelta(minutes=1) for n in range(4)]
    calendar = Calendar()
    calendar.add("PRODID", "-//meetstream-catalog//simulator example//EN")
    calendar.add("VERSION", "2.0")
    weekly = _event("demo-weekly-zoom", "Weekly sync (Zoom)", starts[0], LOCATION=ZOOM)
    weekly.add("RRULE", {"FREQ": "WEEKLY", "COUNT": 6})
    weekly.add("EXDATE", starts[0] + dt.timedelta(weeks=2))
    moved = _event(
        "demo-weekly-zoom",
        "Weekly sync (moved)",
        starts[0] + dt.timedelta(weeks=1, hours=2),
        LOCATION=ZOOM,
    )
    moved.add("RECURRENCE-ID", starts[0] + dt.timedelta(weeks=1))
    daily = _event("demo-daily-meet", "Daily stand-up (Meet)", starts[1])
    daily.add("X-GOOGLE-CONFERENCE", MEET)
    daily.add("RRULE", {"FREQ": "DAILY", "COUNT": 5})
    teams = _event("demo-teams", "Customer call (Teams)", starts[2])
    teams.add("X-MICROSOFT-SKYPETEAMSMEETINGURL", TEAMS)
    cancelled = _event("demo-cancelled", "Cancelled review", starts[3], LOCATION=ZOOM)
    cancelled.add("STATUS", "CANCELLED")
    for event in (weekly, moved, daily, teams, cancelled):
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def _event(uid: str, title: str, start: dt.datetime, **text: str) -> Event:
    import icalendar

    event = icalendar.Event()
    event.add("UID", uid)
    event.add("SUMMARY", title)
    event.add("DTSTAMP", start)
    event.add("DTSTART", start)
    event.add("DTEND", start + dt.timedelta(minutes=10))
    for name, value in text.items():
        event.add(name, value)
    return event
