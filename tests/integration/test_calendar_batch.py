"""The scheduled batch over an iCalendar feed, against the simulator through Prefect: one
bot per expected occurrence (a weekly meeting with a moved occurrence and an exception
date, a single meeting, a cancelled one), through two overlapping windows and a re-run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar, Event

from flows.batch import capture_scheduled
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

pytestmark = pytest.mark.usefixtures("prefect_api")

WEEKLY = "https://acme.zoom.us/j/3000000001?pwd=weekly"
SINGLE = "https://meet.google.com/cal-enda-rbt"
CANCELLED = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_cancel%40thread.v2/0"


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    with serve_in_thread(SimulatorConfig(speed=600)) as url:
        yield url


@pytest.fixture
def api(simulator_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    httpx.post(_admin(simulator_url, "reset")).raise_for_status()
    monkeypatch.setenv("MEETSTREAM_MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setenv("MEETSTREAM_CATALOG_ROOT", str(tmp_path / "catalog"))
    monkeypatch.setenv("MEETSTREAM_API_URL", simulator_url)
    monkeypatch.setenv("MEETSTREAM_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("MEETSTREAM_POLL_INTERVAL_SECONDS", "0.1")
    monkeypatch.setenv("MEETSTREAM_POLL_MAX_INTERVAL_SECONDS", "0.5")
    return simulator_url


def _admin(api_url: str, path: str) -> str:
    return api_url.removesuffix("/api/v1") + f"/_simulator/{path}"


def _event(uid: str, start: dt.datetime, link: str) -> Event:
    event = Event()
    for name, value in (("UID", uid), ("SUMMARY", uid), ("DTSTAMP", start), ("DTSTART", start)):
        event.add(name, value)
    event.add("DTEND", start + dt.timedelta(minutes=20))
    event.add("LOCATION", link)
    return event


def feed(t0: dt.datetime) -> bytes:
    calendar = Calendar()
    calendar.add("PRODID", "-//tests//EN")
    calendar.add("VERSION", "2.0")
    weekly = _event("weekly", t0, WEEKLY)
    weekly.add("RRULE", {"FREQ": "WEEKLY", "COUNT": 4})
    weekly.add("EXDATE", t0 + dt.timedelta(weeks=2))
    moved = _event("weekly", t0 + dt.timedelta(weeks=1, hours=2), WEEKLY)
    moved.add("RECURRENCE-ID", t0 + dt.timedelta(weeks=1))
    cancelled = _event("cancelled", t0 + dt.timedelta(minutes=40), CANCELLED)
    cancelled.add("STATUS", "CANCELLED")
    for event in (
        weekly,
        moved,
        _event("single", t0 + dt.timedelta(minutes=30), SINGLE),
        cancelled,
    ):
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def bots(api_url: str) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = httpx.get(_admin(api_url, "bots")).json()["bots"]
    return listed


async def test_each_occurrence_gets_exactly_one_bot_across_windows_and_reruns(
    api: str, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    t0 = now + dt.timedelta(minutes=5)
    path = tmp_path / "team.ics"
    path.write_bytes(feed(t0))
    eight_days = 8 * 24 * 60
    # Window 1: the first weekly, the single meeting and the moved second weekly.
    first = await capture_scheduled(meetings_url=str(path), window_minutes=eight_days, now=now)
    assert len(first) == 3
    assert len(bots(api)) == 3
    # A re-run of the same window: the same keys, MeetStream replays the bots.
    await capture_scheduled(meetings_url=str(path), window_minutes=eight_days, now=now)
    assert len(bots(api)) == 3
    # An overlapping window: the moved occurrence again (no new bot) and the fourth weekly
    # (the third is an exception date).
    later = now + dt.timedelta(days=6)
    second = await capture_scheduled(
        meetings_url=str(path), window_minutes=eight_days * 2, now=later
    )
    assert len(second) == 2
    links = sorted(str(b["meeting_url"]) for b in bots(api))
    assert links == sorted([WEEKLY, WEEKLY, WEEKLY, SINGLE])
