"""The per-run markdown artifact: catalog delta and problems, with nothing secret in it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from meetstream_catalog.catalog.report import (
    catalog_delta_markdown,
    catalog_rows,
    escape_markdown,
    meeting_label,
)

ZOOM = "https://us02web.zoom.us/j/8123456789"


def result(bot_id: str | None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "meeting": ZOOM,
        "bot_id": bot_id,
        "platform": "zoom",
        "final_status": "Stopped",
        "outcome": "captured",
        "reason": None,
        "audio_participants": 2,
        "webcam_streams": 1,
        "screenshare_streams": 0,
        "media_files": 3,
        "media_bytes": 2_500_000,
    }
    return {**base, **extra}


def people(bot_id: str, rows: list[tuple[str, str, float | None, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "bot_id": bot_id,
                "participant_name": name,
                "match": match,
                "audio_seconds": audio,
                "webcam_seconds": video,
                "screenshare_seconds": None,
                "audio_possibly_capped": False,
            }
            for name, match, audio, video in rows
        ]
    )


def table_rows(markdown: str) -> list[list[str]]:
    """Cells of every table row, split the way GFM does (on `|` not preceded by `\\`)."""
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [re.split(r"(?<!\\)\|", row.strip())[1:-1] for row in rows]


def test_a_run_summary_counts_meetings_participants_seconds_and_files() -> None:
    rows = people("b1", [("Priya Raman", "both", 320.0, 900.0), ("Marco", "audio_only", 40, None)])
    md = catalog_delta_markdown([result("b1")], participants=rows)
    assert "**1 meeting(s)** (1 captured)" in md
    assert "**2 participant row(s)**, 6m00s of audio, 15m00s of video" in md
    assert "3 file(s), 2.5 MB archived" in md
    assert table_rows(md)[2] == [
        " zoom 8123456789 ",
        " b1 ",
        " captured ",
        " 2 ",
        " 6m00s ",
        " 15m00s ",
        " 3 ",
        " 2.5 MB ",
    ]
    assert md.rstrip().splitlines()[-3:-1] == ["None.", ""]


def test_without_catalog_rows_seconds_are_unknown_not_zero() -> None:
    md = catalog_delta_markdown([result("b1")])
    assert "participant row" not in md
    assert table_rows(md)[2][3:6] == [" ? ", " ? ", " ? "]


def test_problems_list_failures_denials_empty_captures_caps_and_ambiguous_names() -> None:
    results = [
        result(None, outcome="failed", reason="MeetStreamTimeoutError: gave up after 3600 s"),
        result(
            "denied",
            meeting="https://meet.google.com/den-iedx-bot",
            platform="google_meet",
            outcome="denied",
            reason="The host refused the bot entry.",
            media_files=0,
        ),
        result("empty", media_files=0),
        result("big", audio_participants=16, webcam_streams=8),
        result("meet", platform="google_meet"),
    ]
    rows = people(
        "meet", [("Alex Kim", "ambiguous", 220, None), ("Alex Kim", "ambiguous", None, 600)]
    )
    md = catalog_delta_markdown(results, participants=rows)
    problems = md.split("### Problems")[1]
    assert "zoom 8123456789: **failed**: MeetStreamTimeoutError\\: gave up after 3600 s" in problems
    assert (
        "google\\_meet den\\-iedx\\-bot: **denied**: The host refused the bot entry\\." in problems
    )
    assert "**no media** archived" in problems
    assert "**speaker cap** (16 audio streams) reached" in problems
    assert "**camera cap** (6 webcams) reached" in problems
    assert "**ambiguous name** Alex Kim (2 rows, not joined)" in problems
    assert "(3 captured, 1 denied, 1 failed)" in md


def test_catalog_flags_win_over_counts() -> None:
    bots = pd.DataFrame(
        [
            {
                "bot_id": "b1",
                "speaker_cap_reached": True,
                "camera_cap_reached": False,
                "no_streams": False,
            }
        ]
    )
    md = catalog_delta_markdown([result("b1", audio_participants=3)], bots=bots)
    assert "**speaker cap**" in md


HOSTILE = "| *x* | [click](https://evil.test/?X-Amz-Signature=abc) <img src=x> `code`\n# h"


def test_hostile_names_cannot_break_the_table_or_inject_links() -> None:
    rows = people("b1", [(HOSTILE, "ambiguous", 1.0, None), (HOSTILE, "ambiguous", 2.0, None)])
    md = catalog_delta_markdown([result("b1")], participants=rows)
    line = next(x for x in md.splitlines() if "ambiguous name" in x)
    assert line.startswith("- zoom 8123456789: **ambiguous name** \\| \\*x\\* \\|")
    for raw in ("](", "<img", "`code`", "\n# h", "://"):
        assert raw not in md
    assert all(len(r) == 8 for r in table_rows(md))  # no extra cells


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("| *x* |", "\\| \\*x\\* \\|"),
        ("Liam O'Brien", "Liam O\\'Brien"),
        ("a\nb\tc", "a b c"),
        ("x" * 100, "x" * 59 + "…"),
    ],
)
def test_escape_markdown_makes_text_inert_and_one_line(text: str, escaped: str) -> None:
    assert escape_markdown(text) == escaped


def test_no_links_storage_uris_or_keys_reach_the_markdown() -> None:
    secret = "sk_live_0123456789abcdef"
    results = [
        result("b1", meeting="https://zoom.us/j/42"),
        result(
            None,
            outcome="failed",
            reason=f"upload to s3://team-media/b1/a.webm?X-Amz-Signature=f00 failed; "
            f"Authorization: Token {secret} https://api.meetstream.ai/api/v1/bots",
        ),
    ]
    rows = people("b1", [("Ann", "both", 1.0, 1.0)]).assign(
        audio_storage_uri="s3://team-media/b1/a.webm", audio_key="b1/audio/a.webm"
    )
    md = catalog_delta_markdown(results, participants=rows)
    for forbidden in ("://", "http", "s3:", "X-Amz", "Signature", secret, "b1/audio", "zoom.us"):
        assert forbidden not in md
    assert "zoom 42" in md


def test_meeting_labels_name_platform_and_meeting_id_only() -> None:
    assert meeting_label(ZOOM, None) == "zoom 8123456789"
    assert meeting_label("https://meet.google.com/abc-defg-hij", "google_meet") == (
        "google_meet abc-defg-hij"
    )
    assert meeting_label("", None) == "unknown meeting"


def test_catalog_rows_reads_only_the_given_bots(tmp_path: Path) -> None:
    from meetstream_catalog.catalog import write_bot
    from meetstream_catalog.catalog.records import BotRecord

    root = str(tmp_path / "catalog")
    for bot_id in ("b1", "b2"):
        bot = BotRecord.model_validate({"bot_id": bot_id, "meeting_date": "2025-03-14"})
        write_bot(root, bot=bot, media=[], participants=[])
    bots, participants = catalog_rows(root, ["b2", None, "b2"])
    assert bots["bot_id"].tolist() == ["b2"]
    assert participants.empty
    assert catalog_rows(root, [])[0].empty
