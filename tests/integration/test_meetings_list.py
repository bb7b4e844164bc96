"""`meetstream-catalog meetings list` against a feed on disk, over http on 127.0.0.1 and on
S3 (a serial moto server), and a CSV list alike: one JSON object per occurrence, no
passcode, the source redacted."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from serial_moto import serial_moto

from meetstream_catalog.cli.main import main
from meetstream_catalog.simulator.calendar_feed import example_calendar

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
WINDOW = ["--start", "2026-12-07T09:00:00Z", "--end", "2026-12-09T09:00:00Z"]
SECRET_DIR = "private-0123456789abcdef"


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    path = tmp_path / SECRET_DIR / "basic.ics"
    path.parent.mkdir()
    path.write_bytes(example_calendar(NOW))
    return path


def listed(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, str]]:
    assert main(["meetings", "list", *argv]) == 0
    out = capsys.readouterr().out
    assert "pwd" not in out
    return [json.loads(line) for line in out.splitlines()]


def test_an_ics_file_lists_one_object_per_occurrence(
    feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = listed(capsys, str(feed), *WINDOW)
    # Zoom weekly (once), Meet daily (twice in two days), Teams once; cancelled left out.
    assert [r["platform"] for r in rows] == ["zoom", "google_meet", "teams", "google_meet"]
    assert set(rows[0]) == {"uid", "start", "title", "link", "platform", "source"}
    assert rows[0]["link"] == "https://zoom.us/j/1000000001"
    assert rows[0]["start"] == "2026-12-07T09:16:00+00:00"
    assert rows[0]["source"] == str(feed)


def test_the_table_format_has_a_header_and_a_line_per_meeting(
    feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["meetings", "list", str(feed), *WINDOW, "--format", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["START", "PLATFORM", "TITLE", "LINK", "UID"]
    assert len(lines) == 5


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """The server's own access log is the test's noise, not the CLI's output."""


@pytest.fixture
def http_root(feed: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(feed.parents[1]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def test_an_http_feed_lists_the_same_and_never_shows_its_path(
    http_root: str,
    feed: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from_disk = listed(capsys, str(feed), *WINDOW)
    caplog.set_level(logging.DEBUG)
    rows = listed(capsys, f"{http_root}/{SECRET_DIR}/basic.ics", *WINDOW)
    assert caplog.records  # httpcore's own debug lines: none of them names the path
    assert not [r for r in caplog.records if SECRET_DIR in r.getMessage()]
    assert [r["uid"] for r in rows] == [r["uid"] for r in from_disk]
    assert {r["source"] for r in rows} == {"http://127.0.0.1/…"}
    # An unreachable one: one line, no secret.
    assert main(["meetings", "list", f"{http_root}/{SECRET_DIR}/gone.ics", *WINDOW]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "error: Meeting list http://127.0.0.1/… answered HTTP 404: check "
        "MEETSTREAM_MEETINGS_URL (a calendar's secret address changes when it is reset)"
    )
    assert SECRET_DIR not in err


def test_an_s3_feed_and_a_csv_list_print_alike(
    feed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import s3fs

    csv = tmp_path / "meetings.csv"
    csv.write_text(
        "meeting_link,join_at,request_id\n"
        "https://zoom.us/j/1000000001?pwd=x,2026-12-07T10:00:00Z,weekly\n"
        "https://zoom.us/j/1000000001,2026-12-10T10:00:00Z,later\n"
    )
    [row] = listed(capsys, str(csv), *WINDOW)
    assert row == {
        "uid": "weekly",
        "start": "2026-12-07T10:00:00+00:00",
        "title": "",
        "link": "https://zoom.us/j/1000000001",
        "platform": "zoom",
        "source": str(csv),
    }
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with serial_moto() as endpoint:
        monkeypatch.setenv("MEETSTREAM_S3_ENDPOINT_URL", endpoint)
        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
        fs.mkdir("feeds")
        fs.pipe("feeds/team/calendar.ics", feed.read_bytes())
        rows = listed(capsys, "s3://feeds/team/calendar.ics", *WINDOW)
        s3fs.S3FileSystem.clear_instance_cache()
    assert [r["uid"] for r in rows] == [r["uid"] for r in listed(capsys, str(feed), *WINDOW)]
    assert {r["source"] for r in rows} == {"s3://feeds/team/calendar.ics"}
