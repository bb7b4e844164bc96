"""The cookbook queries of docs/catalog.md, run on the demo catalog.

The SQL is read from the doc itself (every ```sql block under "## Cookbook", keyed by its
### heading), so the documented queries and the tested ones cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from meetstream_catalog.catalog.query import run_query
from meetstream_catalog.cli.main import main

DOC = Path(__file__).parents[2] / "docs" / "catalog.md"


def cookbook() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Cookbook\n", 1)[1].split("\n## ", 1)[0]
    queries = {}
    for part in section.split("\n### ")[1:]:
        title, body = part.split("\n", 1)
        blocks = re.findall(r"```sql\n(.*?)```", body, flags=re.DOTALL)
        assert len(blocks) == 1, f"cookbook entry {title!r} needs exactly one sql block"
        queries[title.strip()] = blocks[0]
    return queries


QUERIES = cookbook()


def rows(sql: str, root: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = run_query(sql, root).to_pylist()
    return result


def test_the_cookbook_has_every_question_the_data_team_asks() -> None:
    assert list(QUERIES) == [
        "Talk time per participant per meeting",
        "Meetings where someone spoke but has no video",
        "Ambiguous names",
        "Meetings that hit the 16-speaker cap",
        "The media files of one person across meetings",
        "Failed captures and why",
        "Who attended but left no media",
        "Overlapping speech and interruptions per meeting",
        "Talk time on Teams",
        "Speakers beyond the 16-stream cap",
        "Everything one person said about a topic",
        "Words per minute per participant",
        "Talk-over in the transcript: who talked over whom, and what was said",
        "How utterances were attributed, and provider labels that disagreed",
        "Transcripts that failed or never arrived",
    ]


def test_talk_time_per_participant(demo_catalog: str) -> None:
    talk = rows(QUERIES["Talk time per participant per meeting"], demo_catalog)
    by_name = {(r["meeting"], r["participant_name"]): r for r in talk if r["match"] != "ambiguous"}
    priya = by_name[("https://zoom.us/j/1000000001", "Priya Raman")]
    assert (priya["talk_seconds"], priya["audio_isolation"]) == (320.0, "isolated")
    assert by_name[("https://zoom.us/j/1000000001", "Marco Rossi")]["talk_seconds"] == 460.0
    alex = [r["talk_seconds"] for r in talk if r["participant_name"] == "Alex Kim"]
    assert alex == [230.0, 220.0]  # two people, never summed into one
    assert not [r for r in talk if r["platform"] == "teams"]  # no per-participant audio
    assert len(talk) == 16 + 3 + 2  # 18-speaker zoom (capped), meet, 15-minute zoom


def test_spoke_but_no_video(demo_catalog: str) -> None:
    found = rows(QUERIES["Meetings where someone spoke but has no video"], demo_catalog)
    assert {r["meeting"] for r in found} == {"https://zoom.us/j/1000000018"}
    assert [r["participant_name"] for r in found] == [
        "Kavya Iyer",
        "Liam O'Brien",
        "Mei Lin",
        "Nadia Ahmed",
        "Oscar Lund",
        "Paula Costa",
        "Quinn Murphy",
        "Rafael Mendes",
    ]


def test_ambiguous_names_the_demo_namesakes_are_resolved_by_device(demo_catalog: str) -> None:
    assert rows(QUERIES["Ambiguous names"], demo_catalog) == []
    alex = rows(
        "select match, match_method, device_id, audio_seconds, talk_seconds, webcam_segments "
        "from participants where participant_name = 'Alex Kim' order by device_id",
        demo_catalog,
    )
    assert alex == [
        {"match": "both", "match_method": "device", "device_id": "devices/100",
         "audio_seconds": 220.0, "talk_seconds": 220.0, "webcam_segments": 1},
        {"match": "both", "match_method": "device", "device_id": "devices/101",
         "audio_seconds": 230.0, "talk_seconds": 230.0, "webcam_segments": 1},
    ]  # fmt: skip


def test_overlapping_speech_and_interruptions(demo_catalog: str) -> None:
    found = rows(QUERIES["Overlapping speech and interruptions per meeting"], demo_catalog)
    assert [(r["meeting"], r["interruptions"], r["overlap_seconds"]) for r in found] == [
        ("https://meet.google.com/abc-defg-hij", 1, 10.0),  # the two Alex Kims, 140-150 s
        ("https://zoom.us/j/1000000018", 16, 160.0),
    ]


def test_talk_time_on_teams_comes_from_the_timeline(demo_catalog: str) -> None:
    found = rows(QUERIES["Talk time on Teams"], demo_catalog)
    assert [(r["participant_name"], r["talk_seconds"], r["speech_turns"]) for r in found] == [
        ("Emma Davis", 240.0, 1),
        ("Noah Wilson", 240.0, 1),
        ("Olivia Brown", 240.0, 1),
    ]
    assert {r["match"] for r in found} == {"video_only"}


def test_speakers_beyond_the_cap_are_in_the_timeline(demo_catalog: str) -> None:
    found = rows(QUERIES["Speakers beyond the 16-stream cap"], demo_catalog)
    assert [(r["participant_name"], r["turns"], r["talk_seconds"]) for r in found] == [
        ("Ines Duarte", 2, 35.0),
        ("Jonas Weber", 2, 35.0),
    ]


def test_speaker_cap_finds_exactly_the_18_speaker_zoom_meeting(demo_catalog: str) -> None:
    [capped] = rows(QUERIES["Meetings that hit the 16-speaker cap"], demo_catalog)
    assert capped["meeting"] == "https://zoom.us/j/1000000018"
    assert (capped["audio_participants"], capped["webcam_streams"]) == (16, 8)
    assert capped["camera_cap_reached"] is True


def test_media_files_of_one_person(demo_catalog: str) -> None:
    found = rows(QUERIES["The media files of one person across meetings"], demo_catalog)
    assert [(r["kind"], r["duration_seconds"]) for r in found] == [
        ("audio", 320.0),
        ("screenshare", 180.0),
        ("webcam", 900.0),
    ]
    assert all(r["storage_uri"].startswith("file://") for r in found)
    assert not any("?" in r["storage_uri"] for r in found)  # durable, never presigned


def test_failed_captures_and_why(demo_catalog: str) -> None:
    [denied] = rows(QUERIES["Failed captures and why"], demo_catalog)
    assert denied["meeting"] == "https://meet.google.com/den-iedx-bot"
    assert (denied["platform"], denied["outcome"], denied["final_status"]) == (
        "google_meet",
        "denied",
        "Denied",
    )
    assert denied["reason"] == "The host refused the bot entry."


def test_who_attended_but_left_no_media(demo_catalog: str) -> None:
    found = rows(QUERIES["Who attended but left no media"], demo_catalog)
    assert [(r["meeting"], r["participant_name"], r["audio_possibly_capped"]) for r in found] == [
        ("https://zoom.us/j/1000000001", "Sam Taylor", False),  # silent, camera off
        ("https://zoom.us/j/1000000018", "Ines Duarte", True),  # spoke beyond the cap
        ("https://zoom.us/j/1000000018", "Jonas Weber", True),
    ]
    assert {r["platform"] for r in found} == {"zoom"}


@pytest.mark.parametrize("title", list(QUERIES))
def test_every_cookbook_query_runs_through_the_cli(
    title: str, demo_catalog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", QUERIES[title], "--catalog-root", demo_catalog]) == 0
    assert "┌" in capsys.readouterr().out  # DuckDB's boxed table


def test_the_pandas_talk_time_example_keeps_namesakes_apart(demo_catalog: str) -> None:
    section = DOC.read_text(encoding="utf-8").split("### Talk time per participant", 1)[1]
    example = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    scope: dict[str, Any] = {"root": demo_catalog}

    exec(example, scope)  # noqa: S102 - the doc's own example, run as a reader would

    talk = scope["talk"]
    alex = talk[talk.participant_name == "Alex Kim"]["audio_seconds"].tolist()
    assert sorted(alex) == [220.0, 230.0]


def test_everything_priya_said_about_the_budget(demo_catalog: str) -> None:
    said = rows(QUERIES["Everything one person said about a topic"], demo_catalog)
    assert said
    assert all("budget" in r["text"].lower() for r in said)
    assert {r["meeting"] for r in said} == {"https://zoom.us/j/1000000001"}
    assert {r["attribution"] for r in said} == {"track"}  # her own Zoom track


def test_words_per_minute(demo_catalog: str) -> None:
    rates = rows(QUERIES["Words per minute per participant"], demo_catalog)
    assert all(140 <= r["words_per_minute"] <= 151 for r in rates)  # 2.5 words/s, rounded down
    alex = [r for r in rates if r["participant_name"] == "Alex Kim"]
    assert len({r["device_id"] for r in alex}) == 2  # namesakes are two rows
    teams = {r["participant_name"] for r in rates if r["platform"] == "teams"}
    assert teams == {"Olivia Brown", "Noah Wilson", "Emma Davis"}


def test_talk_over_in_the_transcript(demo_catalog: str) -> None:
    over = rows(
        QUERIES["Talk-over in the transcript: who talked over whom, and what was said"],
        demo_catalog,
    )
    meet = [r for r in over if r["meeting"] == "https://meet.google.com/abc-defg-hij"]
    assert [(r["speaking"], r["talked_over_by"], r["at_seconds"]) for r in meet] == [
        ("Alex Kim", "Alex Kim", 140.0)  # namesakes, told apart by device
    ]
    assert len(over) == 17
    assert all(r["overlap_seconds"] > 0 and r["said"] and r["was_saying"] for r in over)
    zoom = [r for r in over if r["meeting"] == "https://zoom.us/j/1000000018"]
    assert len({r["at_seconds"] for r in zoom}) == 16  # the timeline's 16 interruptions


def test_attribution_and_label_disagreements(demo_catalog: str) -> None:
    by_platform = {
        r["platform"]: r
        for r in rows(
            QUERIES["How utterances were attributed, and provider labels that disagreed"],
            demo_catalog,
        )
    }
    teams = by_platform["teams"]
    assert (teams["by_timeline"], teams["label_disagrees"], teams["label_disagrees_pct"]) == (
        48,
        16,
        33.3,
    )
    assert by_platform["google_meet"]["by_track"] == by_platform["google_meet"]["utterances"]
    assert by_platform["zoom"]["label_disagrees"] == 0
    assert by_platform["zoom"]["by_timeline"] == 6  # the two speakers past the 16-stream cap
    assert sum(r["unattributed"] for r in by_platform.values()) == 0


def test_no_transcript_failed_in_the_demo(demo_catalog: str) -> None:
    assert rows(QUERIES["Transcripts that failed or never arrived"], demo_catalog) == []
