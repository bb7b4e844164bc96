"""The participant join: match values, name normalization, screen shares, caps, isolation,
attendees without media."""

from __future__ import annotations

import pytest

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog.join import ParticipantRow, join_participants, summarize_bot
from meetstream_catalog.catalog.names import normalize_name, normalize_platform
from meetstream_catalog.meetstream.models import (
    AudioManifest,
    MeetingParticipant,
    VideoManifest,
)

BOT = "bot-1"


def _entry(name: str, stream_id: str, *durations: float) -> dict[str, object]:
    segments = [
        {"segment_index": i, "duration_seconds": d} for i, d in enumerate(durations or (1,))
    ]
    return {"participant_name": name, "streams": [{"stream_id": stream_id, "segments": segments}]}


def audio_of(*names: str) -> AudioManifest:
    return AudioManifest.model_validate(
        {"participants": [_entry(n, f"a{i}", 10) for i, n in enumerate(names)]}
    )


def video_of(*names: str, screens: tuple[str, ...] = ()) -> VideoManifest:
    return VideoManifest.model_validate(
        {
            "participants": [_entry(n, f"v{i}", 5, 6) for i, n in enumerate(names)],
            "screenshares": [_entry(n, f"s{i}", 30) for i, n in enumerate(screens)],
        }
    )


def join(
    audio: AudioManifest | None,
    video: VideoManifest | None,
    media: list[ArchivedMedia] | None = None,
    platform: str | None = "zoom",
) -> list[ParticipantRow]:
    return join_participants(BOT, audio, video, media or [], platform=platform)


def matches(rows: list[ParticipantRow]) -> list[tuple[str, str]]:
    return [(r.participant_key, r.match) for r in rows]


@pytest.mark.parametrize(
    ("audio", "webcams", "expected"),
    [
        (["Ann"], ["Ann"], [("ann", "both")]),
        (["Ann"], [], [("ann", "audio_only")]),
        ([], ["Ann"], [("ann", "video_only")]),
        (
            ["Ann", "Bob"],
            ["Bob", "Cy"],
            [("ann", "audio_only"), ("bob", "both"), ("cy", "video_only")],
        ),
        (
            ["Ann", "ann"],
            ["Ann"],
            [("ann", "ambiguous"), ("ann", "ambiguous"), ("ann", "ambiguous")],
        ),
        (["Ann"], ["Ann", "ANN "], [("ann", "ambiguous")] * 3),
        (["Ann", "Ann"], [], [("ann", "ambiguous")] * 2),
    ],
    ids=["both", "audio_only", "video_only", "mixed", "ambiguous_audio", "ambiguous_video", "dupe"],
)
def test_every_match_value_comes_from_the_outer_join(
    audio: list[str], webcams: list[str], expected: list[tuple[str, str]]
) -> None:
    assert matches(join(audio_of(*audio), video_of(*webcams))) == expected


def test_ambiguous_rows_carry_only_their_own_side() -> None:
    rows = join(audio_of("Ann", "Ann"), video_of("Ann"))
    assert [(r.audio_stream_id, r.webcam_stream_ids) for r in rows] == [
        ("a0", []),
        ("a1", []),
        (None, ["v0"]),
    ]
    assert [r.audio_segments for r in rows] == [1, 1, 0]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Ann Lee", "ann lee"),
        ("  ANN   LEE ", "ann lee"),
        ("Ann\u00a0Lee", "ann lee"),
        ("Ann\tLee\n", "ann lee"),
        ("Ann\u2028Lee", "ann lee"),
        ("Jose\u0301", "jos\u00e9"),  # NFD e + combining accent == precomposed é
        ("JOS\u00c9", "jos\u00e9"),
        ("Stra\u00dfe", "strasse"),  # casefold, not lower
        ("Ann\u200bLee", "ann\u200blee"),  # zero-width space kept on purpose
        ("", ""),
        (" \t\u00a0", ""),
    ],
)
def test_normalize_name_folds_case_unicode_and_whitespace(raw: str, key: str) -> None:
    assert normalize_name(raw) == key


def test_normalized_names_join_but_both_originals_are_kept() -> None:
    (row,) = join(audio_of("Jose\u0301  Diaz"), video_of("JOS\u00c9\u00a0diaz"))
    assert row.match == "both"
    assert row.participant_name == "Jose\u0301  Diaz"
    assert row.audio_participant_name == "Jose\u0301  Diaz"
    assert row.video_participant_name == "JOS\u00c9\u00a0diaz"


def test_seconds_and_segments_are_summed_per_side() -> None:
    (row,) = join(audio_of("Ann"), video_of("Ann", screens=("Ann",)))
    assert (row.audio_segments, row.audio_seconds) == (1, 10)
    assert (row.webcam_segments, row.webcam_seconds, row.webcam_stream_ids) == (2, 11, ["v0"])
    assert (row.screenshare_segments, row.screenshare_seconds) == (1, 30)
    assert row.screenshare_stream_ids == ["s0"]


@pytest.mark.parametrize(
    ("audio", "webcams", "screens", "expected"),
    [
        (["Ann"], ["Ann"], ["ann"], [("ann", "both", 1)]),
        (["Ann"], [], ["Ann"], [("ann", "audio_only", 1)]),
        ([], [], ["Ann"], [("ann", "video_only", 1)]),
        (
            ["Ann", "Ann"],
            [],
            ["Ann"],
            [("ann", "ambiguous", 0), ("ann", "ambiguous", 0), ("ann", "ambiguous", 1)],
        ),
        (
            ["Ann"],
            ["Ann"],
            ["Ann", "ANN"],
            [("ann", "ambiguous", 0)] * 2 + [("ann", "ambiguous", 1)] * 2,
        ),
    ],
    ids=["joined", "audio_presenter", "presenter_only", "ambiguous_presenter", "two_presenters"],
)
def test_screen_share_attaches_to_its_presenter_or_gets_its_own_row(
    audio: list[str], webcams: list[str], screens: list[str], expected: list[tuple[str, str, int]]
) -> None:
    rows = join(audio_of(*audio), video_of(*webcams, screens=tuple(screens)))
    assert [(r.participant_key, r.match, r.screenshare_segments) for r in rows] == expected


HOSTILE = [
    "",
    "   ",
    "\u200b",
    "x" * 10_000,
    "Robert'); DROP TABLE participants;--",
    '"a,b",c\n=HYPERLINK("http://evil")',
    "**bold** | `code` | [link](http://x)",
    "../../etc/passwd",
    "\x00nul",
    "Ann\u200b",
]


def test_hostile_names_neither_crash_nor_cross_join() -> None:
    rows = join(audio_of(*HOSTILE, "Ann"), video_of(*HOSTILE, "Ann"))
    by_match = {m: sum(r.match == m for r in rows) for m in ("both", "ambiguous")}
    # "" and "   " twice per side: never joined. Every other name joins its own twin only.
    assert by_match == {"both": 9, "ambiguous": 4}
    assert len(rows) == 13
    assert [r.match for r in rows if r.participant_key == "ann"] == ["both"]
    assert [r.match for r in rows if r.participant_key == "ann\u200b"] == ["both"]
    assert max(len(r.participant_name) for r in rows) == 10_000


def test_empty_names_are_never_joined_to_each_other() -> None:
    rows = join(audio_of(""), video_of(" "))
    assert matches(rows) == [("", "ambiguous"), ("", "ambiguous")]


def test_audio_file_comes_from_media_by_stream_id() -> None:
    media = [
        ArchivedMedia(
            bot_id=BOT,
            kind="audio",
            participant_name="Ann",
            stream_id="a0",
            key="k/a0",
            storage_uri="s3://b/k/a0",
            bytes=3,
            sha256="0" * 64,
        )
    ]
    (row,) = join(audio_of("Ann"), None, media)
    assert (row.audio_storage_uri, row.audio_key, row.audio_stream_id) == (
        "s3://b/k/a0",
        "k/a0",
        "a0",
    )


def test_speaker_cap_flags_the_bot_and_participants_without_audio() -> None:
    names = [f"P{i}" for i in range(16)]
    rows = join(audio_of(*names), video_of("P0", "Late"))
    assert all(r.speaker_cap_reached for r in rows)
    assert [r.participant_key for r in rows if r.audio_possibly_capped] == ["late"]


def test_no_speaker_cap_below_sixteen() -> None:
    rows = join(audio_of(*[f"P{i}" for i in range(15)]), video_of("Late"))
    assert not any(r.speaker_cap_reached or r.audio_possibly_capped for r in rows)


@pytest.mark.parametrize(("cameras", "capped"), [(5, False), (6, True), (9, True)])
def test_camera_cap_counts_webcam_streams(cameras: int, capped: bool) -> None:
    rows = join(None, video_of(*[f"C{i}" for i in range(cameras)]))
    assert {r.camera_cap_reached for r in rows} == {capped}


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("zoom", "isolated"),
        ("Zoom", "isolated"),
        ("google_meet", "active_speaker_mix"),
        ("Google Meet", "active_speaker_mix"),
        ("teams", "unknown"),
        ("webex", "unknown"),
        (None, "unknown"),
    ],
)
def test_audio_isolation_depends_on_platform(platform: str | None, expected: str) -> None:
    rows = join(audio_of("Ann"), video_of("Bob"), platform=platform)
    assert [r.audio_isolation for r in rows] == [expected, "none"]


def test_platform_aliases_normalize() -> None:
    assert normalize_platform("Microsoft Teams") == "teams"
    assert normalize_platform("meet") == "google_meet"


@pytest.mark.parametrize(
    ("audio", "video", "expected"),
    [
        (AudioManifest(audio_streams_available=False), video_of("Ann"), [("ann", "video_only")]),
        (
            audio_of("Ann"),
            VideoManifest(recording_streams_available=False),
            [("ann", "audio_only")],
        ),
        (
            AudioManifest(audio_streams_available=False),
            VideoManifest(recording_streams_available=False),
            [],
        ),
        (None, None, []),
    ],
    ids=["no_audio", "no_video", "neither", "missing"],
)
def test_unavailable_streams_contribute_no_entries(
    audio: AudioManifest | None, video: VideoManifest | None, expected: list[tuple[str, str]]
) -> None:
    assert matches(join(audio, video)) == expected


def test_bot_summary_counts_and_no_streams_flag() -> None:
    summary = summarize_bot(audio_of("Ann", "Bob"), video_of("Ann", screens=("Bob",)), [])
    assert (summary.audio_participants, summary.webcam_streams, summary.screenshare_streams) == (
        2,
        1,
        1,
    )
    assert not summary.no_streams
    empty = summarize_bot(AudioManifest(audio_streams_available=False), None, [])
    assert empty.no_streams
    assert (empty.audio_streams_available, empty.video_streams_available) == (False, None)


def attendee(display: str | None, full: str | None = None, *ids: str) -> MeetingParticipant:
    return MeetingParticipant.model_validate(
        {
            "displayName": display,
            "fullName": full,
            "streamIds": list(ids),
            "profilePicture": "https://cdn.example.test/p.png?X-Amz-Signature=x",
        }
    )


def test_an_attendee_without_media_gets_a_no_media_row() -> None:
    rows = join_participants(
        BOT,
        audio_of("Ann"),
        video_of("Bob"),
        [],
        platform="zoom",
        attendees=[attendee("Ann"), attendee("Sam  Taylor")],
    )
    assert matches(rows) == [
        ("ann", "audio_only"),
        ("bob", "video_only"),
        ("sam taylor", "no_media"),
    ]
    sam = rows[-1]
    assert (sam.participant_name, sam.audio_participant_name, sam.video_participant_name) == (
        "Sam  Taylor",
        None,
        None,
    )
    assert (sam.audio_storage_uri, sam.audio_stream_id, sam.audio_seconds) == (None, None, None)
    assert (sam.audio_segments, sam.webcam_segments, sam.screenshare_segments) == (0, 0, 0)
    assert (sam.webcam_seconds, sam.screenshare_seconds) == (None, None)
    assert (sam.webcam_stream_ids, sam.screenshare_stream_ids) == ([], [])
    assert sam.audio_isolation == "none"
    assert (sam.speaker_cap_reached, sam.audio_possibly_capped) == (False, False)


@pytest.mark.parametrize(
    "who",
    [
        attendee("  ANN\u00a0lee "),  # case and whitespace variant of an audio name
        attendee("bob"),  # a webcam name
        attendee("Cy"),  # a screen-share-only presenter
        attendee("Dee"),  # an ambiguous name: it has rows already
        attendee("Ann L.", "Ann Lee"),  # display name differs, full name matches
        attendee("Phone", None, "a0"),  # only its stream id matches
        attendee(""),  # an empty name identifies nobody
        attendee(None),
        attendee(" \t", "Bob"),  # a blank display name falls back to the full name
    ],
    ids=[
        "variant",
        "webcam",
        "screen",
        "ambiguous",
        "full_name",
        "stream_id",
        "empty",
        "none",
        "blank",
    ],
)
def test_an_attendee_accounted_for_by_a_row_changes_nothing(who: MeetingParticipant) -> None:
    audio, video = audio_of("Ann Lee", "Dee", "Dee"), video_of("Bob", screens=("Cy",))
    plain = join(audio, video)
    assert join_participants(BOT, audio, video, [], platform="zoom", attendees=[who]) == plain


def test_one_no_media_row_per_distinct_attendee_name() -> None:
    devices = [attendee("Sam Taylor"), attendee("sam  TAYLOR"), attendee("Sam Taylor")]
    rows = join_participants(BOT, None, None, [], platform="zoom", attendees=devices)
    assert [(r.participant_name, r.match) for r in rows] == [("Sam Taylor", "no_media")]


@pytest.mark.parametrize("attendees", [None, []])
def test_without_attendees_the_join_is_unchanged(
    attendees: list[MeetingParticipant] | None,
) -> None:
    audio, video = audio_of("Ann", "Bob"), video_of("Bob", "Cy", screens=("Ann",))
    rows = join_participants(BOT, audio, video, [], platform="zoom", attendees=attendees)
    assert rows == join(audio, video)
    assert "no_media" not in {r.match for r in rows}


def test_no_media_attendees_are_possibly_capped_when_the_speaker_cap_was_reached() -> None:
    names = [f"P{i}" for i in range(16)]
    rows = join_participants(
        BOT,
        audio_of(*names),
        None,
        [],
        platform="zoom",
        attendees=[attendee(n) for n in (*names, "Ines Duarte")],
    )
    [ines] = [r for r in rows if r.match == "no_media"]
    assert (ines.participant_name, ines.speaker_cap_reached, ines.audio_possibly_capped) == (
        "Ines Duarte",
        True,
        True,
    )
