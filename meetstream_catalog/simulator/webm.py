"""Deterministic media bytes: a minimal WebM muxer (Opus / VP8) and a RIFF/WAV writer.

Files are described as a :class:`LazyFile`: the size of every chunk is known up front
(computed analytically, without generating payload), and any chunk can be rendered on its
own. That gives an exact ``Content-Length`` and cheap ``Range`` requests without ever
building a multi-megabyte body in memory.

Trap guarded against: "valid-looking" media that is not parseable. The WebM output has a
real EBML header, a sized Segment with Info (Duration), Tracks (A_OPUS with an OpusHead
CodecPrivate, or V_VP8 with pixel size) and Clusters of SimpleBlocks; Opus packets are
code-3 CELT packets (silence = the well-known ``FF FE`` frames); VP8 keyframes carry the
frame tag, the ``9d 01 2a`` start code and width/height. Payloads are pseudo-random but
seeded, so the same input always yields the same bytes.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate

OPUS_PACKET_S = 0.12  # six 20 ms CELT frames per packet: fewer blocks, smaller files
OPUS_FRAMES = 6
AUDIO_CLUSTER_PACKETS = 25  # 3 s clusters
_SILENT_PACKET = bytes([0xFB, OPUS_FRAMES]) + b"\xff\xfe" * OPUS_FRAMES
_BLOCK_OVERHEAD = 1 + 4 + 4  # SimpleBlock ID, 4-byte size, track vint + timecode + flags
_CLUSTER_OVERHEAD = 4 + 8 + 6  # Cluster ID, 8-byte size, Timecode element (4-byte value)


@dataclass(frozen=True)
class LazyFile:
    """A file made of independently renderable chunks of known size."""

    chunk_sizes: tuple[int, ...]
    render: Callable[[int], bytes]
    content_type: str

    @property
    def size(self) -> int:
        return sum(self.chunk_sizes)

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield bytes ``start..end`` (inclusive), rendering only the chunks needed."""
        last = self.size - 1 if end is None else end
        offsets = [0, *accumulate(self.chunk_sizes)]
        i = bisect_right(offsets, start) - 1
        while i < len(self.chunk_sizes) and offsets[i] <= last:
            data = self.render(i)
            lo = max(0, start - offsets[i])
            hi = min(len(data), last - offsets[i] + 1)
            if hi > lo:
                yield data[lo:hi]
            i += 1

    def read_all(self) -> bytes:
        return b"".join(self.iter_range())


# --- EBML primitives -------------------------------------------------------------------


def _vint(n: int, length: int | None = None) -> bytes:
    if length is None:
        length = next(k for k in range(1, 9) if n < (1 << (7 * k)) - 1)
    return ((1 << (7 * length)) | n).to_bytes(length, "big")


def _el(eid: int, payload: bytes) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + _vint(len(payload)) + payload


def _uint(eid: int, n: int) -> bytes:
    return _el(eid, n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))


def _float(eid: int, x: float) -> bytes:
    return _el(eid, struct.pack(">d", x))


def _header(track: bytes, duration_s: float, body_size: int) -> bytes:
    ebml = _el(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _el(0x4282, b"webm")
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    info = _el(
        0x1549A966,
        _uint(0x2AD7B1, 1_000_000)
        + _el(0x4D80, b"meetstream-simulator")
        + _el(0x5741, b"meetstream-simulator")
        + _float(0x4489, duration_s * 1000),
    )
    tracks = _el(0x1654AE6B, _el(0xAE, track))
    children = info + tracks
    segment = b"\x18\x53\x80\x67" + _vint(len(children) + body_size, 8)
    return ebml + segment + children


def _cluster(timecode_ms: int, blocks: list[tuple[int, bytes, bool]]) -> bytes:
    """``blocks``: (relative timecode ms, frame, keyframe)."""
    parts = [b"\xe7\x84" + timecode_ms.to_bytes(4, "big")]
    for rel, frame, key in blocks:
        data = b"\x81" + struct.pack(">hB", rel, 0x80 if key else 0) + frame
        parts.append(b"\xa3" + _vint(len(data), 4) + data)
    body = b"".join(parts)
    return b"\x1f\x43\xb6\x75" + _vint(len(body), 8) + body


# --- Opus ------------------------------------------------------------------------------

OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)


def speech_packet_size(bytes_per_second: int) -> int:
    frame = max(3, int(bytes_per_second * OPUS_PACKET_S) // OPUS_FRAMES)
    return 2 + OPUS_FRAMES * frame


def speech_packet(seed: str, size: int) -> bytes:
    """A code-3 CBR CELT packet with seeded pseudo-random frame payloads."""
    return bytes([0xFB, OPUS_FRAMES]) + hashlib.shake_128(seed.encode()).digest(size - 2)


def opus_webm(
    duration_s: float, packet_seed: Callable[[int], str | None], speech_bps: int
) -> LazyFile:
    """Mono 48 kHz Opus; ``packet_seed(k)`` is None for silence, else the packet's seed."""
    n_packets = max(1, math.ceil(round(duration_s / OPUS_PACKET_S, 6)))  # 60/0.12 != 500.0
    speech_size = speech_packet_size(speech_bps)
    n_clusters = -(-n_packets // AUDIO_CLUSTER_PACKETS)

    def packets(c: int) -> range:
        return range(c * AUDIO_CLUSTER_PACKETS, min(n_packets, (c + 1) * AUDIO_CLUSTER_PACKETS))

    sizes = [
        _CLUSTER_OVERHEAD
        + sum(
            _BLOCK_OVERHEAD + (len(_SILENT_PACKET) if packet_seed(k) is None else speech_size)
            for k in packets(c)
        )
        for c in range(n_clusters)
    ]
    track = (
        _uint(0xD7, 1)
        + _uint(0x73C5, 1)
        + _uint(0x83, 2)
        + _el(0x86, b"A_OPUS")
        + _uint(0x9C, 0)
        + _el(0x63A2, OPUS_HEAD)
        + _uint(0x56AA, 6_500_000)
        + _uint(0x56BB, 80_000_000)
        + _el(0xE1, _float(0xB5, 48000.0) + _uint(0x9F, 1))
    )
    head = _header(track, duration_s, sum(sizes))

    def render(i: int) -> bytes:
        if i == 0:
            return head
        c = i - 1
        base_ms = round(c * AUDIO_CLUSTER_PACKETS * OPUS_PACKET_S * 1000)
        blocks = []
        for k in packets(c):
            seed = packet_seed(k)
            frame = _SILENT_PACKET if seed is None else speech_packet(seed, speech_size)
            blocks.append((round(k * OPUS_PACKET_S * 1000) - base_ms, frame, True))
        return _cluster(base_ms, blocks)

    return LazyFile((len(head), *sizes), render, "audio/webm")


# --- VP8 -------------------------------------------------------------------------------


def vp8_frame(key: bool, width: int, height: int, payload: bytes) -> bytes:
    """Frame tag (+ start code and dimensions on keyframes) followed by ``payload``."""
    first_part = min(len(payload), (1 << 19) - 1)
    tag = (0 if key else 1) | (1 << 4) | (first_part << 5)  # version 0, show_frame
    head = tag.to_bytes(3, "little")
    if key:
        head += b"\x9d\x01\x2a" + struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    return head + payload


def vp8_webm(
    duration_s: float, seed: str, width: int, height: int, bytes_per_second: int, fps: int = 15
) -> LazyFile:
    """VP8 video-only WebM; one keyframe-led cluster per 2 seconds."""
    per_cluster = 2 * fps
    n_frames = max(1, math.ceil(round(duration_s * fps, 6)))
    budget = max(64, bytes_per_second * 2)
    key_payload = max(16, budget // 4)
    inter_payload = max(4, (budget - key_payload) // (per_cluster - 1) - 3 - _BLOCK_OVERHEAD)
    n_clusters = -(-n_frames // per_cluster)

    def frames(c: int) -> range:
        return range(c * per_cluster, min(n_frames, (c + 1) * per_cluster))

    def frame_len(k: int) -> int:
        return 10 + key_payload if k % per_cluster == 0 else 3 + inter_payload

    sizes = [
        _CLUSTER_OVERHEAD + sum(_BLOCK_OVERHEAD + frame_len(k) for k in frames(c))
        for c in range(n_clusters)
    ]
    video = _uint(0xB0, width) + _uint(0xBA, height)
    track = (
        _uint(0xD7, 1)
        + _uint(0x73C5, 1)
        + _uint(0x83, 1)
        + _el(0x86, b"V_VP8")
        + _uint(0x9C, 0)
        + _uint(0x23E383, 1_000_000_000 // fps)
        + _el(0xE0, video)
    )
    head = _header(track, duration_s, sum(sizes))

    def render(i: int) -> bytes:
        if i == 0:
            return head
        c = i - 1
        rng = random.Random(f"{seed}:{c}")  # str seeds hash deterministically across runs
        base_ms = c * per_cluster * 1000 // fps
        blocks = []
        for k in frames(c):
            key = k % per_cluster == 0
            payload = rng.randbytes(key_payload if key else inter_payload)
            frame = vp8_frame(key, width, height, payload)
            blocks.append((k * 1000 // fps - base_ms, frame, key))
        return _cluster(base_ms, blocks)

    return LazyFile((len(head), *sizes), render, "video/webm")


# --- WAV -------------------------------------------------------------------------------

_SPEECH_TABLE = bytes(0x60 + (b >> 2) for b in range(256))  # +-32 around the 0x80 midpoint


def wav(duration_s: float, rate: int, speaking: Callable[[float], str | None]) -> LazyFile:
    """8-bit unsigned mono PCM; one chunk per second, 100 ms speech/silence granularity.

    ``speaking(t)`` returns None for silence, else a seed for the noise standing in for
    the mixed voices at recording second ``t``.
    """
    total = int(duration_s * rate)
    n_chunks = -(-total // rate)
    sizes = [min(rate, total - c * rate) for c in range(n_chunks)]
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + total)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
        + b"data"
        + struct.pack("<I", total)
    )
    tenth = max(1, rate // 10)

    def render(i: int) -> bytes:
        if i == 0:
            return header
        c = i - 1
        out = bytearray()
        for sub in range(10):
            n = min(tenth, sizes[c] - len(out)) if sub < 9 else sizes[c] - len(out)
            if n <= 0:
                break
            seed = speaking(c + sub / 10)
            if seed is None:
                out += b"\x80" * n
            else:
                out += hashlib.shake_128(seed.encode()).digest(n).translate(_SPEECH_TABLE)
        return bytes(out)

    return LazyFile((len(header), *sizes), render, "audio/wav")
