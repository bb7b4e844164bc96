"""Which files a bot's recording yields, and the presigned URLs that serve them.

Maps a bot's :class:`~meetstream_catalog.simulator.meeting.MediaPlan` to concrete files
(per-participant
Opus WebM, per-segment VP8 WebM, mixed ``audio.wav``, composite ``video.webm``) and signs
``/media/...`` URLs the way S3 presigned URLs look (``X-Amz-Date``, ``X-Amz-Expires``,
``X-Amz-Signature`` = HMAC-SHA256 over path, date and lifetime with a server secret).

Traps guarded against: URL lifetimes run on the *real* wall clock (what a client waiting
on a download experiences), not the compressed meeting clock; a tampered or expired URL
is a 403 with an S3-style XML body, never a silent success. Google Meet per-participant
audio carries the *mix* while that person speaks (identical bytes in two files during an
overlap); Zoom files are isolated (bytes depend only on the speaker).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from meetstream_catalog.simulator.meeting import Bot
from meetstream_catalog.simulator.plan import MediaPlan, Stream, active_speakers, clip
from meetstream_catalog.simulator.webm import OPUS_PACKET_S, LazyFile, opus_webm, vp8_webm, wav


@dataclass(frozen=True)
class MediaProfile:
    """Bytes per second of generated media (tune to keep demos small, see docs)."""

    speech_bytes_per_second: int = 2000  # ~16 kbps Opus while someone speaks
    video_bytes_per_second: int = 1500  # ~12 kbps VP8 per webcam / screen share
    fps: int = 15
    wav_sample_rate: int = 8000  # 8-bit mono: 8 kB per recorded second


@dataclass(frozen=True)
class MediaFile:
    kind: str  # audio | webcam | screenshare | mixed | composite
    filename: str
    duration: float
    stream: Stream | None = None
    segment_index: int = 0

    @property
    def path_suffix(self) -> str:
        return f"{self.kind}/{self.filename}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "participant"


def stream_filename(stream: Stream, segment_index: int) -> str:
    """``John_Doe_1a2b3c_0.webm``: the display name survives, the hash keeps it unique."""
    return f"{_safe(stream.name)}_{stream.stream_id.rsplit('_', 1)[-1]}" + (
        f"_screen_{segment_index}.webm"
        if stream.kind == "screenshare"
        else f"_{segment_index}.webm"
    )


def list_files(plan: MediaPlan) -> list[MediaFile]:
    """Every file of a plan (per-participant audio is only listed, not gated, here)."""
    files = [
        MediaFile("mixed", "audio.wav", plan.recording_length),
        MediaFile("composite", "video.webm", plan.recording_length),
    ]
    for s in plan.audio:
        files.append(MediaFile("audio", stream_filename(s, 0), plan.recording_length, s))
    for s in (*plan.webcams, *plan.screenshares):
        for seg in s.segments:
            files.append(
                MediaFile(s.kind, stream_filename(s, seg.index), seg.end - seg.start, s, seg.index)
            )
    return files


def render_file(bot: Bot, plan: MediaPlan, f: MediaFile, profile: MediaProfile) -> LazyFile:
    """The deterministic bytes of one file: same script and link, same bytes."""
    script, link = bot.script, bot.link
    if f.kind == "mixed":

        def mixed(t: float) -> str | None:
            active = active_speakers(script, t)
            return f"{link}|wav|{active}|{int(t * 10)}" if active else None

        return wav(f.duration, profile.wav_sample_rate, mixed)
    if f.kind == "composite":
        return vp8_webm(
            f.duration,
            f"{link}|composite",
            1280,
            720,
            profile.video_bytes_per_second * 2,
            profile.fps,
        )
    assert f.stream is not None
    stream = f.stream
    if f.kind == "audio":
        own = clip(script.participants[stream.participant].speech, f.duration)
        meet = script.platform == "google_meet"

        def seed(k: int) -> str | None:
            t = (k + 0.5) * OPUS_PACKET_S
            if not any(s <= t < e for s, e in own):
                return None
            if meet:  # Meet: the person's file carries whoever is audible at that moment
                return f"{link}|mix|{active_speakers(script, t)}|{k}"
            return f"{link}|p{stream.participant}|{k}"

        return opus_webm(f.duration, seed, profile.speech_bytes_per_second)
    width, height = (640, 360) if f.kind == "webcam" else (1280, 720)
    return vp8_webm(
        f.duration,
        f"{link}|{f.kind}|{stream.participant}|{f.segment_index}",
        width,
        height,
        profile.video_bytes_per_second,
        profile.fps,
    )


def find_file(plan: MediaPlan, kind: str, filename: str) -> MediaFile | None:
    return next((f for f in list_files(plan) if f.kind == kind and f.filename == filename), None)


def etag(bot: Bot, f: MediaFile, size: int) -> str:
    digest = hashlib.sha256(f"{bot.link}|{f.kind}|{f.filename}|{f.duration}|{size}".encode())
    return f'"{digest.hexdigest()[:32]}"'


# --- presigned URLs --------------------------------------------------------------------

_DATE_FMT = "%Y%m%dT%H%M%SZ"


class UrlSigner:
    """Signs and verifies S3-look-alike query strings on the real wall clock."""

    def __init__(self, secret: bytes, wall_clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._wall = wall_clock

    def _sig(self, path: str, date: str, expires: str) -> str:
        msg = f"{path}\n{date}\n{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def presign(self, base_url: str, path: str, ttl: float) -> str:
        """``base_url`` + ``path`` + a query valid for ``ttl`` real seconds (0 = dead)."""
        date = time.strftime(_DATE_FMT, time.gmtime(int(self._wall())))
        expires = str(max(0, int(ttl)))
        query = urlencode(
            {
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Credential": f"SIMULATOR/{date[:8]}/us-east-1/s3/aws4_request",
                "X-Amz-Date": date,
                "X-Amz-Expires": expires,
                "X-Amz-SignedHeaders": "host",
                "X-Amz-Signature": self._sig(path, date, expires),
            }
        )
        return f"{base_url.rstrip('/')}{path}?{query}"

    def check(self, path: str, query: dict[str, str]) -> tuple[str, str] | None:
        """None when valid, else an S3 (code, message) pair for the 403 body."""
        date, expires = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        sig = query.get("X-Amz-Signature", "")
        if not (date and expires and sig):
            return (
                "AccessDenied",
                "Query-string authentication requires the Signature, "
                "Expires and Credential parameters",
            )
        if not hmac.compare_digest(sig, self._sig(path, date, expires)):
            return (
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        try:
            issued = calendar.timegm(time.strptime(date, _DATE_FMT))
            lifetime = int(expires)
        except ValueError:
            return ("AuthorizationQueryParametersError", "Invalid X-Amz-Date or X-Amz-Expires")
        if self._wall() >= issued + lifetime:
            return ("AccessDenied", "Request has expired")
        return None


def s3_error_xml(code: str, message: str, resource: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>SIMULATOR</RequestId></Error>"
    )


class RangeNotSatisfiableError(ValueError):
    """The Range header cannot be served for this size (answer 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) for a single ``bytes=`` range; None means the whole file.

    Multi-range and malformed headers are ignored (a 200 with the full body is allowed).
    """
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiableError(header)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiableError(header)
    return start, end
