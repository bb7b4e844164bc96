"""The scheduled batch's meeting list: every format, errors that name row and field, UTC."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.request.meeting_list import MeetingListError, due, read_meeting_list

ROWS = [
    {
        "meeting_link": "https://zoom.us/j/111",
        "bot_name": "Recorder",
        "join_at": "2025-03-10T09:00:00+01:00",
        "custom_attributes": '{"team": "sales"}',
    },
    {"meeting_link": "https://meet.google.com/abc-defg-hij", "join_at": "2025-03-10T08:30:00"},
]


def write(path: Path, rows: list[dict[str, str]]) -> str:
    frame = pd.DataFrame(rows)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    elif path.suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows))
    else:
        frame.to_parquet(path)
    return str(path)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl", ".parquet"])
def test_every_format_reads_into_validated_requests(tmp_path: Path, suffix: str) -> None:
    requests = read_meeting_list(write(tmp_path / f"list{suffix}", ROWS))

    assert [r.meeting_link for r in requests] == [row["meeting_link"] for row in ROWS]
    assert requests[0].bot_name == "Recorder"
    assert requests[0].custom_attributes == {"team": "sales"}
    assert requests[1].bot_name == MeetingRequest.model_fields["bot_name"].default
    assert requests[0].join_at == dt.datetime(2025, 3, 10, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_a_naive_join_time_is_read_as_utc(tmp_path: Path, suffix: str) -> None:
    requests = read_meeting_list(write(tmp_path / f"list{suffix}", ROWS))

    join_at = requests[1].join_at
    assert join_at is not None
    assert join_at.utcoffset() == dt.timedelta(0)
    assert join_at.replace(tzinfo=None) == dt.datetime(2025, 3, 10, 8, 30)


def test_a_bad_row_names_its_row_and_field(tmp_path: Path) -> None:
    rows = [*ROWS, {"meeting_link": "https://zoom.us/j/3", "max_meeting_minutes": "5"}]

    with pytest.raises(MeetingListError, match=r"row 3: max_meeting_minutes"):
        read_meeting_list(write(tmp_path / "list.csv", rows))


def test_custom_attributes_that_are_not_json_name_the_row(tmp_path: Path) -> None:
    rows = [ROWS[1], {"meeting_link": "https://zoom.us/j/3", "custom_attributes": "{oops"}]

    with pytest.raises(MeetingListError, match=r"row 2: custom_attributes"):
        read_meeting_list(write(tmp_path / "list.csv", rows))


def test_a_list_without_meeting_links_says_so(tmp_path: Path) -> None:
    with pytest.raises(MeetingListError, match="no meeting_link column") as raised:
        read_meeting_list(write(tmp_path / "list.csv", [{"bot_name": "x"}]))
    assert "Expected columns: meeting_link" in str(raised.value)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("absent.csv", None, "does not exist"),
        ("list.txt", "meeting_link\n", r"use a \.csv"),
        ("list.json", "{not json", "is not valid json"),
        ("list.parquet", "not parquet", "is not valid parquet"),
    ],
)
def test_an_unreadable_list_names_the_file_the_setting_and_the_columns(
    tmp_path: Path, name: str, content: str | None, problem: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)

    with pytest.raises(MeetingListError, match=problem) as raised:
        read_meeting_list(str(path))

    message = str(raised.value)
    assert "\n" not in message
    assert str(path) in message
    assert "MEETSTREAM_MEETINGS_URL" in message or "does not exist" in message
    assert "Expected columns: meeting_link (required), join_at" in message


def test_a_passcode_in_the_list_never_becomes_a_parameter(tmp_path: Path) -> None:
    rows = [{"meeting_link": "https://zoom.us/j/9?pwd=s3cret", "join_at": "2030-01-01T09:00Z"}]

    [listed] = read_meeting_list(write(tmp_path / "list.csv", rows))

    assert listed.meeting_link == "https://zoom.us/j/9"
    assert listed.link() == "https://zoom.us/j/9?pwd=s3cret"
    assert "s3cret" not in json.dumps(listed.model_dump(mode="json"))


def test_a_row_with_an_unsupported_link_names_its_row(tmp_path: Path) -> None:
    rows = [ROWS[0], {"meeting_link": "https://example.com/x", "join_at": "2030-01-01T09:00Z"}]

    with pytest.raises(MeetingListError, match=r"row 2: meeting_link: .*not a meeting link"):
        read_meeting_list(write(tmp_path / "list.csv", rows))


def test_the_shipped_example_list_reads(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "docs" / "meetings.example.csv"

    listed = read_meeting_list(str(example))

    assert len(listed) == 3
    assert all(r.join_at is not None for r in listed)


def at(hour: int, minute: int, tz: dt.tzinfo | None = dt.UTC) -> dt.datetime:
    return dt.datetime(2025, 3, 10, hour, minute, tzinfo=tz)


def request(join_at: dt.datetime | None) -> MeetingRequest:
    return MeetingRequest(meeting_link="https://zoom.us/j/1", join_at=join_at)


def test_due_keeps_the_half_open_window_in_utc() -> None:
    listed = [request(at(9, 0)), request(at(9, 14)), request(at(9, 15)), request(at(8, 59))]

    picked = due(listed, now=at(9, 0), window=dt.timedelta(minutes=15))

    assert [r.join_at for r in picked] == [at(9, 0), at(9, 14)]


def test_due_compares_instants_not_wall_clocks() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    listed = [request(at(10, 5, paris)), request(at(9, 5, None)), request(None)]

    picked = due(listed, now=at(9, 0), window=dt.timedelta(minutes=15))

    assert len(picked) == 2  # 10:05+01:00 and naive 09:05 (UTC); no join time is never due


def test_the_example_list_has_one_meeting_due_in_each_coming_window(tmp_path: Path) -> None:
    from meetstream_catalog.cli.main import main

    assert main(["example-meetings", str(tmp_path / "meetings.csv")]) == 0
    listed = read_meeting_list(str(tmp_path / "meetings.csv"))

    now = dt.datetime.now(dt.UTC)
    window = dt.timedelta(minutes=15)
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + window
    for k in range(len(listed)):
        assert len(due(listed, now=start + k * window, window=window)) == 1
