"""Scenario parsing, the status timeline and the platform capture rules of the simulator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from meetstream_catalog.simulator.meeting import SimClock, build_timeline
from meetstream_catalog.simulator.plan import plan_media
from meetstream_catalog.simulator.scenario import (
    MeetingScript,
    Participant,
    ScenarioError,
    default_script,
    load_scenario,
    platform_from_link,
)

DEMO = Path(__file__).parents[2] / "meetstream_catalog" / "simulator" / "scenarios" / "demo.yaml"


def _script(**kw: object) -> MeetingScript:
    base: dict[str, object] = {"platform": "zoom", "duration": 600.0, "participants": ()}
    return MeetingScript(**(base | kw))  # type: ignore[arg-type]


def _timeline(script: MeetingScript, removed_at: float | None = None) -> list[tuple[float, str]]:
    tl = build_timeline(
        script, waiting_room_timeout=600, in_call_limit=14400, removed_at=removed_at,
        has_transcript=False,
    )  # fmt: skip
    return list(tl.transitions)


def test_yaml_and_json_scenarios_parse_to_the_same_scripts(tmp_path: Path) -> None:
    doc = {"meetings": {"https://zoom.us/j/1?pwd=abc": {
        "duration": 300, "waiting_room": 10,
        "participants": [{"name": "A", "speech": [[0, 10]], "camera": [{"start": 5, "end": None}]}],
    }}}  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps(doc))
    (tmp_path / "s.yaml").write_text(
        "meetings:\n  'https://zoom.us/j/1?pwd=abc':\n    duration: 300\n    waiting_room: 10\n"
        "    participants:\n      - name: A\n        speech: [[0, 10]]\n"
        "        camera: [{start: 5, end: null}]\n"
    )
    from_json, from_yaml = load_scenario(tmp_path / "s.json"), load_scenario(tmp_path / "s.yaml")
    assert from_json.meetings == from_yaml.meetings
    script = from_yaml.script_for("HTTPS://ZOOM.US/j/1/?pwd=abc")
    assert script.duration == 300
    assert script.participants[0].camera == ((5.0, float("inf")),)
    assert from_yaml.script_for("https://zoom.us/j/1") is script  # passcode-less link matches too


@pytest.mark.parametrize(
    "bad",
    [{"meetings": {"https://zoom.us/j/1": {"durration": 3}}},
     {"meetings": {"https://zoom.us/j/1": {"outcome": "exploded"}}},
     {"meetings": {"https://zoom.us/j/1": {"participants": [{"name": "A", "speech": [[5, 1]]}]}}},
     {"meetings": {"https://zoom.us/j/1": {"faults": [{"endpoint": "nope", "status": 500}]}}}],
)  # fmt: skip
def test_malformed_scenarios_are_rejected_with_a_reason(tmp_path: Path, bad: object) -> None:
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ScenarioError, match=re.escape("meeting 'https://zoom.us/j/1'")):
        load_scenario(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("link", "platform"),
    [
        ("https://us02web.zoom.us/j/123", "zoom"),
        ("https://meet.google.com/abc-defg-hij", "google_meet"),
        ("https://teams.microsoft.com/l/meetup-join/x", "teams"),
        ("https://teams.live.com/meet/9", "teams"),
    ],
)
def test_platform_is_derived_from_the_link_host(link: str, platform: str) -> None:
    assert platform_from_link(link) == platform
    assert default_script(link).platform == platform


def test_default_script_is_deterministic_per_link() -> None:
    a = default_script("https://zoom.us/j/42")
    assert a == default_script("https://zoom.us/j/42")
    assert a != default_script("https://zoom.us/j/43")
    assert 3 <= len(a.participants) <= 5
    assert all(p.speech for p in a.participants)


def test_demo_scenario_covers_the_documented_meetings() -> None:
    scenario = load_scenario(DEMO)
    platforms = sorted(m.platform for m in scenario.meetings.values())
    assert platforms == ["google_meet", "google_meet", "teams", "zoom", "zoom"]
    assert any(m.outcome == "denied" for m in scenario.meetings.values())
    assert all(600 <= m.duration <= 2400 for m in scenario.meetings.values())


def test_normal_meeting_progresses_through_every_status() -> None:
    statuses = [s for _, s in _timeline(_script(waiting_room=30))]
    assert statuses == [
        "Joining",
        "InWaitingRoom",
        "InMeeting",
        "Recording",
        "Leaving",
        "Stopped",
        "Done",
    ]
    tl = build_timeline(_script(), waiting_room_timeout=600, in_call_limit=14400, removed_at=None,
                        has_transcript=True)  # fmt: skip
    events = [e.event for e in tl.events]
    assert events[-1] == "bot.done"
    assert events.index("audio.processed") < events.index("video.processed")
    assert tl.audio_ready is not None
    assert tl.video_ready is not None
    assert tl.stopped_at < tl.audio_ready < tl.video_ready


@pytest.mark.parametrize(
    ("outcome", "final"), [("denied", "Denied"), ("not_allowed", "NotAllowed")]
)
def test_refused_bots_record_nothing(outcome: str, final: str) -> None:
    tl = build_timeline(_script(outcome=outcome), waiting_room_timeout=120, in_call_limit=14400,
                        removed_at=None, has_transcript=False)  # fmt: skip
    assert [s for _, s in tl.transitions][-2:] == [final, "Done"]
    assert tl.recording_length == 0
    assert tl.audio_ready is None
    stopped = next(e for e in tl.events if e.event == "bot.stopped")
    assert stopped.bot_status == final
    assert stopped.status_code == 500


def test_error_outcome_keeps_partial_media_and_removal_shortens_the_recording() -> None:
    tl = build_timeline(_script(outcome="error", error_at=200), waiting_room_timeout=600,
                        in_call_limit=14400, removed_at=None, has_transcript=False)  # fmt: skip
    assert tl.status_at(tl.stopped_at) == "Error"
    assert tl.recording_length == 200
    removed = build_timeline(_script(), waiting_room_timeout=600, in_call_limit=14400,
                             removed_at=100, has_transcript=False)  # fmt: skip
    assert removed.recording_length == pytest.approx(100 - 7)  # join 5 s + 2 s to Recording


def test_manual_clock_only_moves_when_advanced() -> None:
    clock = SimClock(0.0)
    assert clock.now() == 0.0
    assert clock.advance(90) == 90.0
    fast = SimClock(10.0, source=iter([0.0, 2.0]).__next__)
    assert fast.now() == 20.0


def test_only_the_first_16_speakers_get_audio_streams() -> None:
    people = tuple(Participant(f"P{i}", speech=((100.0 - i, 101.0 - i),)) for i in range(18))
    plan = plan_media(_script(participants=people), "https://zoom.us/j/1", 600)
    assert plan.speaker_cap_reached
    assert len(plan.audio) == 16
    assert {s.name for s in plan.audio} == {f"P{i}" for i in range(2, 18)}  # P0/P1 spoke last


def test_seventh_camera_queues_until_a_slot_frees() -> None:
    cams = [Participant(f"C{i}", camera=((0.0, 100.0 if i == 0 else 600.0),)) for i in range(6)]
    late = Participant("Late", camera=((50.0, 600.0),))
    plan = plan_media(_script(participants=(*cams, late)), "https://zoom.us/j/1", 600)
    segs = {s.name: [(g.start, g.end) for g in s.segments] for s in plan.webcams}
    assert segs["Late"] == [(100.0, 600.0)]
    assert plan.camera_cap_reached
    assert segs["C0"] == [(0.0, 100.0)]


def test_camera_toggles_and_screen_shares_make_segments_and_duplicate_names_stay_apart() -> None:
    people = (
        Participant(
            "Alex Kim", camera=((0.0, 100.0), (200.0, 300.0)), screen_share=((10.0, 20.0),)
        ),
        Participant("Alex Kim", speech=((0.0, 5.0),)),
    )
    plan = plan_media(_script(participants=people), "https://meet.google.com/x", 600)
    assert [len(s.segments) for s in plan.webcams] == [2]
    assert len(plan.screenshares) == 1
    ids = {plan.webcams[0].stream_id, plan.audio[0].stream_id}
    assert len(ids) == 2  # same display name, different stream ids
