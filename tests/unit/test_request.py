"""The meeting request: supported links only, passcodes kept out of parameters, UTC times."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pendulum
import pytest
from pydantic import ValidationError

from meetstream_catalog.request import MeetingRequest, as_utc, platform_from_link
from meetstream_catalog.request.links import public_part
from meetstream_catalog.request.preflight import PreflightError, check_join_at


@pytest.mark.parametrize(
    ("link", "platform"),
    [
        ("https://zoom.us/j/123456789", "zoom"),
        ("https://us02web.zoom.us/j/123456789", "zoom"),
        ("https://meet.google.com/abc-defg-hij", "google_meet"),
        ("https://teams.microsoft.com/l/meetup-join/abc", "teams"),
        ("https://teams.live.com/meet/123", "teams"),
    ],
)
def test_supported_links_name_their_platform(link: str, platform: str) -> None:
    assert platform_from_link(link) == platform
    assert MeetingRequest(meeting_link=link).meeting_link == link


@pytest.mark.parametrize(
    "link",
    [
        "not a meeting link",
        "ftp://zoom.us/j/1",
        "https://zoom.us.evil.example/j/1",
        "https://evilzoom.us/j/1",
        "https://example.com/meeting",
        "https://teams.microsoft.com.example.org/l/x",
        "",
    ],
)
def test_anything_else_is_refused_before_a_bot_exists(link: str) -> None:
    with pytest.raises(ValueError, match="not a meeting link"):
        MeetingRequest.from_link(link)


def test_a_pasted_passcode_moves_into_the_secret_full_link() -> None:
    request = MeetingRequest.from_link("https://zoom.us/j/123?pwd=s3cret#success", bot_name="R")

    assert request.meeting_link == "https://zoom.us/j/123"
    assert request.link() == "https://zoom.us/j/123?pwd=s3cret#success"
    dumped = json.dumps(request.model_dump(mode="json"))
    assert "s3cret" not in dumped
    assert "s3cret" not in repr(request)


def test_a_link_without_secrets_needs_no_full_link() -> None:
    request = MeetingRequest.from_link(" https://meet.google.com/abc-defg-hij ")

    assert request.full_link is None
    assert request.link() == "https://meet.google.com/abc-defg-hij"


def _form_refusal(link: str, field: str = "meeting_link", **more: str) -> str:
    """What the Prefect server answers a run whose form holds `link` ("" when stored)."""
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools import ValidationError as SchemaError
    from prefect.utilities.schema_tools import validate
    from prefect.utilities.schema_tools.validation import build_error_obj

    from flows.capture import capture_meeting

    schema = parameter_schema(capture_meeting.fn).model_dump()
    parameters = {"request": {"meeting_link": link, **more}}
    try:
        validate(parameters, schema, raise_on_error=True)
    except SchemaError as exc:
        # ... and what the UI's form check answers: the error is filed under the link's field.
        errors = build_error_obj(validate(parameters, schema, raise_on_error=False))["errors"]
        [(request, fields)] = [(e["property"], e["errors"]) for e in errors]
        assert request == "request"
        assert {f["property"] for f in fields} == {field}
        return str(exc)
    return ""


@pytest.mark.parametrize(
    "link",
    [
        "https://zoom.us/j/123?pwd=s3cret",
        "https://zoom.us/j/123#pwd=s3cret",
        "https://user:s3cret@zoom.us/j/123",
        "https://zoom.us/j/123;pwd=s3cret",
        "https://zoom.us/j/123%3Fpwd%3Ds3cret",
        "https://example.com/j/123?pwd=s3cret",
    ],
)
def test_the_form_refuses_a_link_with_a_secret_part_without_repeating_it(link: str) -> None:
    # The Prefect server checks a run's parameters against this schema before storing
    # them, and shows its refusal in the UI: it names the field and never the value.
    refusal = _form_refusal(link)

    assert refusal.startswith("Validation failed for field 'request'"), refusal
    assert "meeting_link holds a passcode or another private part" in refusal
    assert "s3cret" not in refusal
    assert not _form_refusal(public_part(link).replace("example.com", "zoom.us"))
    with pytest.raises(ValidationError):
        MeetingRequest(meeting_link=link)


@pytest.mark.parametrize(
    "link",
    ["https://example.com/j/123", "https://zoom.us.evil.com/j/1", "https://x.meet.google.com/a"],
)
def test_the_form_accepts_only_the_supported_meeting_hosts(link: str) -> None:
    assert "zoom.us, meet.google.com, teams.microsoft.com or teams.live.com" in _form_refusal(link)
    teams = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_N2%40thread.v2/0"
    hosts = ("https://zoom.us/j/1", "https://acme.zoom.us/j/1", "https://meet.google.com/abc",
             "https://teams.live.com/meet/9", teams)  # fmt: skip
    for supported in hosts:
        assert not _form_refusal(supported), supported
    with pytest.raises(ValidationError, match="not a meeting link: use an http"):
        MeetingRequest(meeting_link=link)


def test_the_form_shows_no_storage_roots_and_no_secret_field() -> None:
    properties = MeetingRequest.model_json_schema()["properties"]

    assert "full_link" not in properties
    assert not {"media_root", "catalog_root"} & set(properties)
    assert all(p.get("description") for p in properties.values())
    assert properties["custom_attributes"]["examples"]


def _flow_forms() -> list[dict[str, Any]]:
    from prefect.utilities.callables import parameter_schema

    from flows.batch import capture_scheduled
    from flows.capture import capture_meeting, capture_meetings
    from flows.collect import collect_bot, collect_pending
    from flows.maintenance import maintain_catalog
    from flows.reconcile import reconcile_account

    flows = (capture_meeting, capture_meetings, capture_scheduled, collect_bot,
             collect_pending, maintain_catalog, reconcile_account)  # fmt: skip
    return [parameter_schema(f.fn).model_dump() for f in flows]


def test_every_form_field_has_a_human_title_and_no_type_toggle() -> None:
    fields = [
        (name, field)
        for schema in [*_flow_forms(), MeetingRequest.model_json_schema()]
        for part in [schema, *schema.get("definitions", {}).values()]
        for name, field in part.get("properties", {}).items()
    ]

    assert fields
    for name, field in fields:
        assert "anyOf" not in field, name  # the form's "str | None" toggle
        title = field.get("title", "")
        assert title, name
        assert title != name, name
        assert "_" not in title, title
        assert "optional" not in title.casefold(), title


def test_empty_optional_form_fields_mean_none() -> None:
    request = MeetingRequest.model_validate(
        {"meeting_link": "https://zoom.us/j/1", "link_secret": "", "join_at": "", "request_id": " "}
    )

    assert (request.link_secret, request.join_at, request.request_id) == (None, None, None)


def test_no_form_lets_a_run_choose_a_storage_root() -> None:
    names = {name for schema in _flow_forms() for name in schema["properties"]}

    assert not {n for n in names if "root" in n}


def test_run_names_say_platform_meeting_recorder_and_time() -> None:
    join = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)
    request = MeetingRequest(meeting_link="https://zoom.us/j/1", bot_name="Rec", join_at=join)

    assert request.run_name() == "zoom 1 · Rec · 2026-12-01 14:00 UTC"
    assert MeetingRequest(meeting_link="https://zoom.us/j/1").run_name().endswith("now")
    meet = MeetingRequest(meeting_link="https://meet.google.com/abc-defg-hij")
    assert meet.run_name() == "google_meet abc-defg-hij · Meeting Recorder · now"
    teams = MeetingRequest.from_link(
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NzQ0ZjM4YjQtMjA5%40thread.v2/0"
        "?context=%7b%22Tid%22%3a%22x%22%7d"
    )
    assert teams.run_name() == "teams 19:meeting_NzQ0ZjM4YjQt… · Meeting Recorder · now"


def test_a_pendulum_time_plus_a_window_stays_comparable() -> None:
    # Prefect hands flows their scheduled time as a pendulum DateTime, and pendulum 3's
    # DateTime + timedelta lost its zone: normalize once, then arithmetic is plain.
    scheduled = pendulum.datetime(2026, 11, 26, 9, 15, tz="Europe/Paris")
    start = as_utc(scheduled)

    assert type(start) is dt.datetime
    assert start.tzinfo is dt.UTC
    assert start == dt.datetime(2026, 11, 26, 8, 15, tzinfo=dt.UTC)
    assert start + dt.timedelta(minutes=15) > start  # no naive/aware TypeError


def test_a_join_time_in_the_past_is_refused_with_what_to_do() -> None:
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    past = MeetingRequest(meeting_link="https://zoom.us/j/1", join_at=dt.datetime(2020, 1, 1))
    soon = MeetingRequest(meeting_link="https://zoom.us/j/1", join_at=now - dt.timedelta(minutes=2))

    with pytest.raises(PreflightError, match="in the past"):
        check_join_at(past, now=now)
    check_join_at(soon, now=now)  # within the grace: a meeting that just started


def test_the_form_refuses_a_link_given_as_the_secret_block_name() -> None:
    full = "https://zoom.us/j/123?pwd=s3cret"

    refusal = _form_refusal("https://zoom.us/j/123", field="link_secret", link_secret=full)

    assert "link_secret is the name of a Secret block, not a link" in refusal
    assert "s3cret" not in refusal
    assert not _form_refusal("https://zoom.us/j/123", link_secret="zoom-standup-link")


def test_the_form_refuses_a_field_it_does_not_show() -> None:
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools import ValidationError as SchemaError
    from prefect.utilities.schema_tools import validate

    from flows.capture import capture_meeting

    schema = parameter_schema(capture_meeting.fn).model_dump()
    sneaked = {"meeting_link": "https://zoom.us/j/1", "full_link": "https://zoom.us/j/1?pwd=s3"}

    with pytest.raises(SchemaError, match="full_link") as refused:
        validate({"request": sneaked}, schema, raise_on_error=True)
    assert "pwd=s3" not in str(refused.value)


def test_a_dumped_request_passes_the_form_check_and_reads_back_the_same() -> None:
    """Any API client that sends `request.model_dump(mode="json")` (the fan-out, a script)
    gets through the server's schema check: "none" is an empty text, never null."""
    request = MeetingRequest(meeting_link="https://zoom.us/j/1", bot_name="R")

    dumped = request.model_dump(mode="json")

    assert not _form_refusal(dumped.pop("meeting_link"), **dumped)
    assert MeetingRequest.model_validate(request.model_dump(mode="json")) == request
