"""Calendar feeds as meeting lists: links from every property, recurrences, skips, zones,
rules, and one key per occurrence that a moved occurrence keeps."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from meetstream_catalog.request import request_key
from meetstream_catalog.request.calendar import CalendarRules
from meetstream_catalog.request.meeting_list import MeetingListError
from meetstream_catalog.request.sources import Listing, meetings_between
from meetstream_catalog.settings import Settings

START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 12, 31, tzinfo=dt.UTC)


def feed(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\n{body}END:VCALENDAR\r\n"


def event(uid: str, start: str = "DTSTART:20261202T100000Z", **props: str) -> str:
    lines = [f"UID:{uid}", start, f"SUMMARY:{props.pop('SUMMARY', uid)}"]
    lines += [f"{name.replace('_', '-')}:{value}" for name, value in props.items()]
    return "\r\n".join(lines)


def listing(
    tmp_path: Path,
    *events: str,
    rules: CalendarRules | None = None,
    start: dt.datetime = START,
    end: dt.datetime = END,
    name: str = "cal.ics",
) -> Listing:
    path = tmp_path / name
    path.write_text(feed(*events))
    return meetings_between(str(path), start=start, end=end, rules=rules or CalendarRules())


ZOOM = "https://zoom.us/j/1000000001"


@pytest.mark.parametrize(
    ("prop", "value", "address", "platform"),
    [
        (
            "LOCATION",
            "https://acme.zoom.us/j/987654321?pwd=s3cret",
            "https://acme.zoom.us/j/987654321",
            "zoom",
        ),
        (
            "URL",
            "https://meet.google.com/abc-defg-hij",
            "https://meet.google.com/abc-defg-hij",
            "google_meet",
        ),
        (
            "DESCRIPTION",
            "Agenda: https://example.com/help\\nJoin: <https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?context=%7b%7d>",
            "https://teams.microsoft.com/l/meetup-join/19:meeting_x@thread.v2/0",
            "teams",
        ),
        (
            "X-GOOGLE-CONFERENCE",
            "https://meet.google.com/xyz-abcd-efg",
            "https://meet.google.com/xyz-abcd-efg",
            "google_meet",
        ),
        (
            "X-MICROSOFT-SKYPETEAMSMEETINGURL",
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_y%40thread.v2/0",
            "https://teams.microsoft.com/l/meetup-join/19:meeting_y@thread.v2/0",
            "teams",
        ),
        (
            "X-MICROSOFT-ONLINEMEETINGCONFLINK",
            "https://teams.live.com/meet/9876543210",
            "https://teams.live.com/meet/9876543210",
            "teams",
        ),
        (
            "DESCRIPTION",
            "Dial in or https://us02web.zoom.us/j/55555?pwd=abc.",
            "https://us02web.zoom.us/j/55555",
            "zoom",
        ),
    ],
)
def test_the_meeting_link_is_found_in_each_property_and_platform(
    tmp_path: Path, prop: str, value: str, address: str, platform: str
) -> None:
    [meeting] = listing(tmp_path, event("e1", **{prop: value})).meetings
    row = meeting.row()
    assert (row["link"], row["platform"]) == (address, platform)
    assert "pwd" not in str(row)
    assert "context" not in str(row)
    assert meeting.request.link() == value.split("<")[-1].rstrip(">.").split(" ")[-1]


def test_outlook_windows_zones_and_an_html_description_are_read(tmp_path: Path) -> None:
    href = "https://acme.zoom.us/j/42?pwd=a&amp;uname=b"
    outlook = event(
        "outlook",
        "DTSTART;TZID=Pacific Standard Time:20261207T093000",
        X_ALT_DESC=f'<html><a href="{href}">Join</a></html>',
    )
    [meeting] = listing(tmp_path, outlook).meetings
    assert meeting.row()["start"] == "2026-12-07T17:30:00+00:00"
    assert meeting.request.link() == "https://acme.zoom.us/j/42?pwd=a&uname=b"


def test_a_conference_property_wins_over_a_help_link_in_the_description(tmp_path: Path) -> None:
    ev = event(
        "e1",
        DESCRIPTION="https://meet.google.com/zzz-zzzz-zzz old",
        X_GOOGLE_CONFERENCE="https://meet.google.com/abc-defg-hij",
    )
    [meeting] = listing(tmp_path, ev).meetings
    assert meeting.request.meeting_link == "https://meet.google.com/abc-defg-hij"


WEEKLY = event(
    "weekly",
    "DTSTART;TZID=Europe/Berlin:20261201T100000",
    DTEND="20261201T093000Z",
    RRULE="FREQ=WEEKLY;COUNT=5",
    RDATE="20261203T150000Z",
    EXDATE="20261215T090000Z",
    LOCATION=ZOOM,
)
MOVED = event(
    "weekly",
    "DTSTART;TZID=Europe/Berlin:20261208T140000",
    RECURRENCE_ID="20261208T090000Z",
    SUMMARY="moved",
    LOCATION=ZOOM,
)


def test_recurrences_expand_with_rdate_exdate_and_a_moved_occurrence(tmp_path: Path) -> None:
    starts = [m.request.join_at for m in listing(tmp_path, WEEKLY, MOVED).meetings]
    assert [s.isoformat() if s else "" for s in starts] == [
        "2026-12-01T09:00:00+00:00",  # 10:00 Berlin
        "2026-12-03T15:00:00+00:00",  # RDATE
        "2026-12-08T13:00:00+00:00",  # moved from 09:00 UTC to 14:00 Berlin
        "2026-12-22T09:00:00+00:00",  # 12-15 is an EXDATE
        "2026-12-29T09:00:00+00:00",
    ]


def test_a_moved_occurrence_keeps_its_key_and_occurrences_differ(tmp_path: Path) -> None:
    before = listing(tmp_path, WEEKLY, name="a.ics").meetings
    after = listing(tmp_path, WEEKLY, MOVED, name="b.ics").meetings
    keys_before = {m.request.request_id: request_key(m.request) for m in before}
    keys_after = {m.request.request_id: request_key(m.request) for m in after}
    assert keys_before == keys_after
    assert len(set(keys_after.values())) == 5
    moved = next(m for m in after if m.title == "moved")
    assert moved.request.request_id == "ical:weekly@2026-12-08T09:00:00+00:00"


def test_a_moved_single_event_keeps_its_key(tmp_path: Path) -> None:
    [one] = listing(tmp_path, event("single", LOCATION=ZOOM), name="a.ics").meetings
    later = event("single", "DTSTART:20261203T170000Z", LOCATION=ZOOM)
    [two] = listing(tmp_path, later, name="b.ics").meetings
    assert request_key(one.request) == request_key(two.request)
    assert one.request.join_at != two.request.join_at


def test_overlapping_windows_give_the_same_occurrence_the_same_key(tmp_path: Path) -> None:
    first = listing(tmp_path, WEEKLY, end=START + dt.timedelta(days=3)).meetings
    second = listing(tmp_path, WEEKLY, start=START + dt.timedelta(hours=10)).meetings
    assert request_key(first[-1].request) == request_key(second[0].request)


OWNER = "ana@acme.com"


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        ({"STATUS": "CANCELLED"}, "cancelled"),
        ({"TRANSP": "TRANSPARENT"}, "free (transparent)"),
        ({"ATTENDEE;PARTSTAT=DECLINED": f"mailto:{OWNER.upper()}"}, "declined"),
    ],
)
def test_cancelled_declined_and_free_events_are_skipped(
    tmp_path: Path, props: dict[str, str], reason: str
) -> None:
    result = listing(
        tmp_path, event("e1", LOCATION=ZOOM, **props), rules=CalendarRules(owner=OWNER)
    )
    assert result.meetings == []
    assert result.skipped[reason] == 1


def test_free_events_are_kept_when_configured_and_others_declines_do_not_count(
    tmp_path: Path,
) -> None:
    rules = CalendarRules(owner=OWNER, skip_transparent=False)
    ev = event(
        "e1",
        LOCATION=ZOOM,
        TRANSP="TRANSPARENT",
        **{"ATTENDEE;PARTSTAT=DECLINED": "mailto:bo@acme.com"},
    )
    assert len(listing(tmp_path, ev, rules=rules).meetings) == 1


def test_a_cancelled_occurrence_of_a_series_is_skipped(tmp_path: Path) -> None:
    cancelled = event(
        "weekly",
        "DTSTART:20261208T090000Z",
        RECURRENCE_ID="20261208T090000Z",
        STATUS="CANCELLED",
        LOCATION=ZOOM,
    )
    result = listing(tmp_path, WEEKLY, cancelled)
    assert len(result.meetings) == 4
    assert result.skipped["cancelled"] == 1


def test_floating_times_use_the_configured_zone_and_all_day_events_are_skipped(
    tmp_path: Path,
) -> None:
    floating = event("f", "DTSTART:20261202T100000", LOCATION=ZOOM)
    all_day = event("d", "DTSTART;VALUE=DATE:20261203", LOCATION=ZOOM)
    utc = listing(tmp_path, floating, all_day, name="a.ics")
    assert [m.row()["start"] for m in utc.meetings] == ["2026-12-02T10:00:00+00:00"]
    assert utc.skipped["all-day"] == 1
    tokyo = listing(
        tmp_path, floating, rules=CalendarRules(floating_zone="Asia/Tokyo"), name="b.ics"
    )
    assert [m.row()["start"] for m in tokyo.meetings] == ["2026-12-02T01:00:00+00:00"]


def test_the_window_is_half_open_in_utc(tmp_path: Path) -> None:
    ev = event("e", "DTSTART;TZID=America/New_York:20261202T050000", LOCATION=ZOOM)  # 10:00Z
    at = dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)
    assert len(listing(tmp_path, ev, start=at, end=at + dt.timedelta(minutes=15)).meetings) == 1
    assert listing(tmp_path, ev, start=at - dt.timedelta(minutes=15), end=at).meetings == []


def test_include_and_exclude_rules(tmp_path: Path) -> None:
    events = [
        event(
            "a",
            SUMMARY="Customer call",
            LOCATION=ZOOM,
            ORGANIZER="mailto:x@Acme.com",
            ATTENDEE="mailto:1@acme.com",
        ),
        event(
            "b", SUMMARY="Customer call (internal)", LOCATION=ZOOM, ORGANIZER="mailto:y@acme.com"
        ),
        event("c", SUMMARY="Customer sync", LOCATION=ZOOM, ORGANIZER="mailto:z@other.org"),
        event("d", SUMMARY="Lunch", LOCATION=ZOOM, ORGANIZER="mailto:z@acme.com"),
    ]
    rules = CalendarRules(
        title_include="^customer", title_exclude="internal", organizer_domains=("acme.com",)
    )
    assert [m.uid for m in listing(tmp_path, *events, rules=rules).meetings] == ["a"]
    crowd = CalendarRules(min_attendees=1)
    assert [m.uid for m in listing(tmp_path, *events, rules=crowd, name="b.ics").meetings] == ["a"]


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        (
            CalendarRules(title_include="(unclosed"),
            "MEETSTREAM_CALENDAR_TITLE_INCLUDE is not a valid regex",
        ),
        (
            CalendarRules(floating_zone="Mars/Olympus"),
            "MEETSTREAM_CALENDAR_FLOATING_TIMEZONE 'Mars/Olympus'",
        ),
    ],
)
def test_a_bad_setting_fails_in_one_line_naming_it(
    tmp_path: Path, rules: CalendarRules, problem: str
) -> None:
    with pytest.raises(MeetingListError, match=re.escape(problem)):
        listing(tmp_path, event("a", LOCATION=ZOOM), rules=rules)


def test_rules_come_from_the_calendar_settings() -> None:
    settings = Settings(
        calendar_owner=OWNER,
        calendar_organizer_domains="acme.com, @Example.org",
        calendar_skip_transparent=False,
        calendar_min_attendees=3,
    )
    rules = CalendarRules.of(settings)
    assert rules.organizer_domains == ("acme.com", "example.org")
    assert (rules.owner, rules.skip_transparent, rules.min_attendees) == (OWNER, False, 3)


def test_an_event_without_a_link_is_skipped_but_a_feed_without_any_fails(tmp_path: Path) -> None:
    result = listing(tmp_path, event("a", LOCATION=ZOOM), event("lunch", LOCATION="Cafeteria"))
    assert result.skipped["no meeting link"] == 1
    with pytest.raises(MeetingListError, match=r"cal\.ics has no Zoom, Google Meet or Teams link"):
        listing(tmp_path, event("lunch", LOCATION="Cafeteria https://example.com/menu"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "BEGIN:VCALENDAR\r\nthis is not ical\r\nEND:VCALENDAR\r\n",
            "is not a valid iCalendar feed",
        ),
        ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "has no events"),
    ],
)
def test_a_malformed_feed_fails_in_one_line_naming_it(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "broken.ics"
    path.write_text(text)
    with pytest.raises(MeetingListError) as caught:
        meetings_between(str(path), start=START, end=END, rules=CalendarRules())
    message = str(caught.value)
    assert message.startswith(f"Calendar feed {path} {problem}")
    assert "\n" not in message


def test_an_unreachable_secret_address_is_named_without_its_path() -> None:
    url = "http://127.0.0.1:9/calendar/ical/ana%40acme.com/private-0123456789abcdef/basic.ics"
    with pytest.raises(MeetingListError) as caught:
        meetings_between(url, start=START, end=END, rules=CalendarRules())
    message = str(caught.value)
    assert "private-0123456789abcdef" not in message
    assert "ana" not in message
    assert message == "Meeting list http://127.0.0.1/… is unreachable (ConnectError)"


def test_content_is_recognised_without_an_ics_name(tmp_path: Path) -> None:
    path = tmp_path / "calendar"
    path.write_text("\ufeff" + feed(event("a", LOCATION=ZOOM)))
    [meeting] = meetings_between(str(path), start=START, end=END, rules=CalendarRules()).meetings
    assert meeting.uid == "a"


async def test_the_simulator_serves_an_example_feed_the_batch_can_read(tmp_path: Path) -> None:
    import httpx

    from meetstream_catalog.simulator.app import create_app
    from meetstream_catalog.simulator.state import SimulatorConfig

    wall = START.timestamp()
    app = create_app(SimulatorConfig(wall_clock=lambda: wall))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        answer = await c.get("/example/meetings.ics")
    assert answer.headers["content-type"].startswith("text/calendar")
    path = tmp_path / "example"  # no .ics: told by its first line
    path.write_bytes(answer.content)
    hour = meetings_between(
        str(path), start=START, end=START + dt.timedelta(hours=2), rules=CalendarRules()
    )
    assert [m.row()["platform"] for m in hour.meetings] == ["zoom", "google_meet", "teams"]
    assert hour.skipped["cancelled"] == 1


async def test_the_batch_reads_a_feed_address_from_its_secret_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import SecretStr

    from tasks import settings as run_settings

    asked: list[str] = []

    async def block(name: str) -> SecretStr | None:
        asked.append(name)
        return SecretStr("https://calendar.google.com/calendar/ical/x/private-y/basic.ics")

    monkeypatch.setattr(run_settings, "_block", block)
    url = await run_settings.meetings_url(Settings())
    assert url is not None
    assert url.endswith("/basic.ics")
    assert asked == ["meetstream-meetings-url"]
    assert await run_settings.meetings_url(Settings(meetings_url="list.csv")) == "list.csv"
    assert asked == ["meetstream-meetings-url"]  # the environment wins, no API call
