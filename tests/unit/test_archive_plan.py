"""Storage keys, the media plan and URL lookup: pure code, hostile names, no network."""

from __future__ import annotations

import pytest

from meetstream_catalog.archive.plan import MediaGoneError, plan_media, segment_url, storage_key
from meetstream_catalog.meetstream.models import (
    AudioManifest,
    CompositeVideo,
    MixedAudio,
    VideoManifest,
)

BOT = "6667fd0c-0165-471a-a880-06a1180be377"

HOSTILE = [
    "../../etc/passwd",
    "/abs",
    "C:\\Windows\\system32",
    ".hidden",
    "..",
    "",
    "   ",
    "a\x00b",
    "evil\u202egpj.exe",  # RTL override
    "a\uff0fb\uff3cc",  # fullwidth solidus and reverse solidus
    "x" * 300,
    "🎤🎧",
    "line\nbreak\ttab",
    "José Müller",
    "李雷",
]


def _assert_safe(key: str) -> None:
    assert not key.startswith("/")
    parts = key.split("/")
    assert len(parts) == 4
    for part in parts:
        assert part
        assert part not in {".", ".."}
        assert not part.startswith((".", "-"))
        assert len(part.encode()) <= 80
        assert part.isascii()
        assert part.isprintable()
        assert "\\" not in part


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_give_safe_relative_keys(name: str) -> None:
    key = storage_key(BOT, "audio", name, "s1", 0, f"{name}.webm")
    _assert_safe(key)
    assert key.startswith(f"{BOT}/audio/")
    assert key.endswith(".webm")


def test_every_hostile_name_gets_its_own_key() -> None:
    keys = {storage_key(BOT, "webcam", name, None, 0, None) for name in HOSTILE}
    assert len(keys) == len(HOSTILE)


@pytest.mark.parametrize("bot_id", ["../x", "", "A/B", ".bot"])
def test_hostile_bot_ids_stay_one_safe_component(bot_id: str) -> None:
    _assert_safe(storage_key(bot_id, "audio", "Jane", "s", 0, "a.webm"))


def test_names_differing_by_case_space_or_normalization_are_distinct() -> None:
    names = ["Alex Kim", "alex kim", "Alex  Kim", "Ame\u0301lie", "Amélie"]
    keys = {storage_key(BOT, "audio", n, None, 0, "a.webm") for n in names}
    assert len(keys) == len(names)


def test_namesakes_with_different_streams_or_occurrences_are_distinct() -> None:
    a = storage_key(BOT, "audio", "Alex Kim", "s1", 0, "a.webm")
    b = storage_key(BOT, "audio", "Alex Kim", "s2", 0, "a.webm")
    c = storage_key(BOT, "audio", "Alex Kim", None, 0, "a.webm", occurrence=0)
    d = storage_key(BOT, "audio", "Alex Kim", None, 0, "a.webm", occurrence=1)
    assert len({a, b, c, d}) == 4


def test_keys_are_stable_across_calls() -> None:
    args = (BOT, "screenshare", "Jane", "u1", 2, "Jane_0.webm")
    assert storage_key(*args) == storage_key(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("filename", "suffix"),
    [
        ("x.webm", ".webm"),
        ("X.WAV", ".wav"),
        ("clip.mp4", ".mp4"),
        ("run.sh", ".bin"),
        ("a.webm.exe", ".bin"),
        ("noext", ".bin"),
        ("../../x.webm", ".webm"),
        (None, ".webm"),
    ],
)
def test_known_media_extensions_are_kept_and_others_become_bin(
    filename: str | None, suffix: str
) -> None:
    key = storage_key(BOT, "audio", "Jane", "s", 3, filename)
    assert key.endswith(suffix)
    assert key.rsplit("/", 1)[1].startswith("3-")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        storage_key(BOT, "slides", "Jane", "s", 0, None)  # type: ignore[arg-type]


def _seg(index: int, url: str, **extra: object) -> dict[str, object]:
    return {"segment_index": index, "url": url, "filename": f"f{index}.webm", **extra}


AUDIO = AudioManifest.model_validate(
    {
        "participants": [
            {
                "participant_name": "Alex Kim",
                "streams": [{"stream_id": None, "segments": [_seg(0, "https://a/1")]}],
            },
            {
                "participant_name": "Alex Kim",
                "streams": [{"stream_id": None, "segments": [_seg(0, "https://a/2")]}],
            },
            {
                "participant_name": "Jane",
                "streams": [
                    {
                        "stream_id": "j1",
                        "segments": [
                            _seg(
                                0,
                                "https://a/3",
                                duration_seconds=12.5,
                                sample_rate=48000,
                                channels=1,
                                codec="opus",
                            ),
                        ],
                    }
                ],
            },
        ]
    }
)
VIDEO = VideoManifest.model_validate(
    {
        "participants": [
            {
                "participant_name": "Jane",
                "streams": [
                    {
                        "stream_id": "j1",
                        "segments": [
                            _seg(0, "https://v/1", width=640, height=360, codec="vp8"),
                            _seg(1, "https://v/2"),
                        ],
                    }
                ],
            }
        ],
        "screenshares": [
            {
                "participant_name": "Jane",
                "streams": [{"stream_id": "j1_screen", "segments": [_seg(0, "https://s/1")]}],
            }
        ],
    }
)
MIXED = MixedAudio(audio_url="https://m/audio")
COMPOSITE = CompositeVideo.model_validate(
    {"video_url": "https://m/video", "video_info": {"duration": 30, "resolution": "1920x1080"}}
)


def test_plan_has_one_file_per_segment_in_a_stable_order_without_urls() -> None:
    plan = plan_media(BOT, AUDIO, VIDEO, MIXED, COMPOSITE)
    assert [(m.kind, m.participant_name, m.segment_index) for m in plan] == [
        ("audio", "Alex Kim", 0),
        ("audio", "Alex Kim", 0),
        ("audio", "Jane", 0),
        ("webcam", "Jane", 0),
        ("webcam", "Jane", 1),
        ("screenshare", "Jane", 0),
        ("mixed_audio", None, 0),
        ("composite_video", None, 0),
    ]
    assert len({m.key for m in plan}) == len(plan)
    assert plan == plan_media(BOT, AUDIO, VIDEO, MIXED, COMPOSITE)
    assert "https://" not in repr(plan) + str([m.model_dump() for m in plan])


def test_plan_copies_segment_metadata() -> None:
    by_kind = {(m.kind, m.participant_name, m.segment_index): m for m in plan_media(
        BOT, AUDIO, VIDEO, MIXED, COMPOSITE)}  # fmt: skip
    jane_audio = by_kind[("audio", "Jane", 0)]
    assert (jane_audio.duration_seconds, jane_audio.sample_rate, jane_audio.channels) == (
        12.5, 48000, 1)  # fmt: skip
    assert (jane_audio.codec, jane_audio.filename, jane_audio.stream_id) == (
        "opus",
        "f0.webm",
        "j1",
    )
    cam = by_kind[("webcam", "Jane", 0)]
    assert (cam.width, cam.height, cam.codec) == (640, 360, "vp8")
    composite = by_kind[("composite_video", None, 0)]
    assert (composite.width, composite.height, composite.duration_seconds) == (1920, 1080, 30)
    assert composite.key.endswith(".mp4")
    assert by_kind[("mixed_audio", None, 0)].key.endswith(".wav")


def test_plan_of_missing_or_unavailable_manifests_is_empty() -> None:
    unavailable = AudioManifest.model_validate({"audio_streams_available": False})
    assert plan_media(BOT, None, None) == []
    assert plan_media(BOT, unavailable, None) == []


def test_segment_url_finds_each_planned_file_including_namesakes() -> None:
    urls = [segment_url(m, AUDIO, VIDEO, MIXED, COMPOSITE) for m in plan_media(
        BOT, AUDIO, VIDEO, MIXED, COMPOSITE)]  # fmt: skip
    assert urls == [
        "https://a/1",
        "https://a/2",
        "https://a/3",
        "https://v/1",
        "https://v/2",
        "https://s/1",
        "https://m/audio",
        "https://m/video",
    ]


def test_segment_url_reads_the_fresh_manifest() -> None:
    item = plan_media(BOT, AUDIO, None)[2]
    fresh = AUDIO.model_copy(deep=True)
    fresh.participants[2].streams[0].segments[0].url = "https://a/fresh"
    assert segment_url(item, fresh, None) == "https://a/fresh"


def test_segment_url_of_a_vanished_file_raises_without_any_url() -> None:
    items = plan_media(BOT, AUDIO, VIDEO, MIXED)
    empty = AudioManifest.model_validate({"participants": []})
    with pytest.raises(MediaGoneError) as err:
        segment_url(items[0], empty, VIDEO)
    assert "Alex Kim" in str(err.value)
    assert "https://" not in str(err.value)
    with pytest.raises(MediaGoneError):
        segment_url(items[-1], AUDIO, VIDEO, None)
