"""The simulator's media bytes: valid-looking WebM/WAV, deterministic, signed URLs, ranges."""

from __future__ import annotations

import struct

import pytest

from meetstream_catalog.simulator.media import (
    MediaProfile,
    RangeNotSatisfiableError,
    UrlSigner,
    list_files,
    parse_range,
    render_file,
)
from meetstream_catalog.simulator.meeting import Bot
from meetstream_catalog.simulator.scenario import MeetingScript, Participant
from meetstream_catalog.simulator.webm import opus_webm, vp8_webm, wav

_MASTERS = {0x1A45DFA3, 0x18538067, 0x1549A966, 0x1654AE6B, 0xAE, 0x1F43B675, 0xE1, 0xE0}


def _read_vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    first = data[pos]
    length = next(k for k in range(8) if first & (0x80 >> k)) + 1
    value = int.from_bytes(data[pos : pos + length], "big")
    if not keep_marker:
        value &= (1 << (7 * length)) - 1
    return value, pos + length


def parse_ebml(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, object]]:
    """A tiny EBML reader: (id, children or payload bytes); raises if sizes do not add up."""
    out: list[tuple[int, object]] = []
    pos, end = start, len(data) if end is None else end
    while pos < end:
        eid, pos = _read_vint(data, pos, keep_marker=True)
        size, pos = _read_vint(data, pos, keep_marker=False)
        assert pos + size <= end, f"element {eid:x} overruns its parent"
        out.append(
            (eid, parse_ebml(data, pos, pos + size) if eid in _MASTERS else data[pos : pos + size])
        )
        pos += size
    assert pos == end
    return out


def _find(tree: list[tuple[int, object]], eid: int) -> list[object]:
    return [v for i, v in tree if i == eid]


def _seed(k: int) -> str | None:
    return f"speech:{k}" if 10 <= k < 40 else None


def test_opus_webm_parses_with_opus_track_duration_and_clusters() -> None:
    data = opus_webm(12.0, _seed, 2000).read_all()
    tree = parse_ebml(data)
    header, segment = tree[0], tree[1]
    assert header[0] == 0x1A45DFA3
    assert _find(header[1], 0x4282) == [b"webm"]
    seg = segment[1]
    info = _find(seg, 0x1549A966)[0]  # type: ignore[arg-type]
    (duration,) = struct.unpack(">d", _find(info, 0x4489)[0])  # type: ignore[arg-type]
    assert duration == pytest.approx(12000.0)
    track = _find(_find(seg, 0x1654AE6B)[0], 0xAE)[0]  # type: ignore[arg-type]
    assert _find(track, 0x86) == [b"A_OPUS"]  # type: ignore[arg-type]
    assert _find(track, 0x63A2)[0].startswith(b"OpusHead")  # type: ignore[arg-type,union-attr]
    clusters = _find(seg, 0x1F43B675)  # type: ignore[arg-type]
    blocks = [b for c in clusters for b in _find(c, 0xA3)]  # type: ignore[arg-type]
    assert len(blocks) == 100  # 12 s of 120 ms packets
    assert blocks[0][4:] == bytes([0xFB, 6]) + b"\xff\xfe" * 6  # type: ignore[index]
    assert len(blocks[20]) > len(blocks[0])  # type: ignore[arg-type]


def test_vp8_webm_keyframes_carry_start_code_and_dimensions() -> None:
    data = vp8_webm(5.0, "seed", 640, 360, 1500).read_all()
    seg = parse_ebml(data)[1][1]
    track = _find(_find(seg, 0x1654AE6B)[0], 0xAE)[0]  # type: ignore[arg-type]
    assert _find(track, 0x86) == [b"V_VP8"]  # type: ignore[arg-type]
    first = _find(_find(seg, 0x1F43B675)[0], 0xA3)[0]  # type: ignore[arg-type]
    frame = first[4:]  # type: ignore[index]
    assert first[3] == 0x80
    assert frame[0] & 1 == 0
    assert frame[3:6] == b"\x9d\x01\x2a"
    assert struct.unpack("<HH", frame[6:10]) == (640, 360)


def test_media_is_deterministic_and_sizes_are_exact() -> None:
    a = vp8_webm(30.0, "x", 640, 360, 1500)
    b = vp8_webm(30.0, "x", 640, 360, 1500)
    assert a.read_all() == b.read_all()
    assert len(a.read_all()) == a.size
    assert vp8_webm(30.0, "y", 640, 360, 1500).read_all() != a.read_all()
    assert 30 * 1500 * 0.8 < a.size < 30 * 1500 * 1.3  # roughly bytes_per_second * duration


def test_ranges_render_the_same_bytes_as_the_whole_file() -> None:
    f = opus_webm(30.0, _seed, 2000)
    whole = f.read_all()
    for start, end in [(0, 0), (5, 4000), (len(whole) - 10, len(whole) - 1), (1234, 1234)]:
        assert b"".join(f.iter_range(start, end)) == whole[start : end + 1]


def test_wav_is_riff_pcm_with_silence_and_speech() -> None:
    f = wav(2.0, 8000, lambda t: "s" if t >= 1.0 else None)
    data = f.read_all()
    assert data[:4] == b"RIFF"
    assert data[8:16] == b"WAVEfmt "
    fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[20:36])
    assert (fmt, channels, rate, bits) == (1, 1, 8000, 8)
    assert struct.unpack("<I", data[40:44])[0] == 16000 == len(data) - 44
    assert set(data[44 : 44 + 8000]) == {0x80}
    assert len(set(data[44 + 8000 :])) > 10


def _bot(platform: str) -> Bot:
    script = MeetingScript(
        platform,
        60.0,
        (
            Participant("A", speech=((0.0, 30.0),)),
            Participant("B", speech=((10.0, 40.0),)),
        ),
    )
    return Bot("b", f"https://{platform}.example/x", "n", script, 0.0, {}, None, True, True, True)


def _packets(bot: Bot, who: int) -> list[bytes]:
    plan = bot.plan()
    f = next(
        f
        for f in list_files(plan)
        if f.kind == "audio" and f.stream and f.stream.participant == who
    )
    seg = parse_ebml(render_file(bot, plan, f, MediaProfile()).read_all())[1][1]
    return [b[4:] for c in _find(seg, 0x1F43B675) for b in _find(c, 0xA3)]  # type: ignore[arg-type,index]


@pytest.mark.parametrize(("platform", "same"), [("google_meet", True), ("zoom", False)])
def test_meet_audio_carries_the_mix_while_zoom_is_isolated(platform: str, same: bool) -> None:
    bot = _bot(platform)
    a, b = _packets(bot, 0), _packets(bot, 1)
    overlap = 150  # packet 150 = 18 s: both speak
    assert (a[overlap] == b[overlap]) is same
    assert len(a) == len(b) == 500  # both files span the whole 60 s recording


def test_presigned_urls_verify_expire_and_reject_tampering() -> None:
    now = [1_800_000_000.0]
    signer = UrlSigner(b"secret", lambda: now[0])
    url = signer.presign("http://h", "/media/b/audio/x.webm", 600)
    query = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
    assert query["X-Amz-Expires"] == "600"
    assert "X-Amz-Signature" in query
    assert signer.check("/media/b/audio/x.webm", query) is None
    assert signer.check("/media/b/audio/y.webm", query) is not None
    tampered = query | {"X-Amz-Expires": "9999"}
    assert signer.check("/media/b/audio/x.webm", tampered)[0] == "SignatureDoesNotMatch"  # type: ignore[index]
    now[0] += 600
    assert signer.check("/media/b/audio/x.webm", query) == ("AccessDenied", "Request has expired")


@pytest.mark.parametrize(
    ("header", "expected"),
    [("bytes=0-9", (0, 9)), ("bytes=90-", (90, 99)), ("bytes=-10", (90, 99)),
     ("bytes=95-200", (95, 99)), (None, None), ("bytes=1-2,5-6", None)],
)  # fmt: skip
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=50-10", "bytes=-0"])
def test_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        parse_range(header, 100)
