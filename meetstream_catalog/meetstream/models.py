"""Typed models of what a bot delivered: per-participant audio and video manifests, the mixed
audio, the composite video and the attendee list. Liberal on input, strict in what they
expose. (The bot's own life, from create to Done, is `meetstream_catalog.meetstream.bot`.)

Unknown fields are ignored everywhere (`Liberal`, the base of every response model), because
the API adds fields without notice. The trap this module guards against is the
per-participant video manifest, documented in two shapes (the nested
`participants`/`screenshares`/`streams`/`segments` object, and a flat array of
`{participant: {name}, download_url, type}` observed from a real run): both parse into one
`VideoManifest`. "No streams available" is a normal value (`available=False`), not an error.

Presigned URLs live in `Segment.url` only; they are bearer credentials, so every model that
holds one hides it from its repr.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Liberal(BaseModel):
    """Base of every MeetStream response model: unknown fields ignored, aliases optional."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Segment(Liberal):
    """One media file. `url` is a presigned URL: never log, store or raise it."""

    segment_index: int = 0
    url: str | None = Field(default=None, repr=False)
    filename: str | None = None
    duration_seconds: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_download_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("url") and data.get("download_url"):
            return {**data, "url": data["download_url"]}
        return data


class Stream(Liberal):
    stream_id: str | None = None
    segments: list[Segment] = Field(default_factory=list)


class ParticipantStreams(Liberal):
    participant_name: str
    streams: list[Stream] = Field(default_factory=list)


class AudioManifest(Liberal):
    """`get_audio_streams` when ready (200). `available=False` means no streams exist."""

    bot_id: str | None = None
    audio_status: str | None = None
    available: bool = Field(default=True, alias="audio_streams_available")
    participants: list[ParticipantStreams] = Field(default_factory=list)
    message: str | None = None


class VideoManifest(Liberal):
    """`get_recording_streams` when ready, in either documented shape.

    `participants` are webcams, `screenshares` are screen shares.
    """

    bot_id: str | None = None
    video_status: str | None = None
    available: bool = Field(default=True, alias="recording_streams_available")
    participants: list[ParticipantStreams] = Field(default_factory=list)
    screenshares: list[ParticipantStreams] = Field(default_factory=list)
    message: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_flat_array(cls, data: Any) -> Any:
        if isinstance(data, list):
            return _nest_flat_video_items(data)
        return data


def _nest_flat_video_items(items: list[Any]) -> dict[str, Any]:
    """Flat `[{participant: {name}, download_url, type}]` -> the nested shape.

    Each item is one file. Files are grouped into streams by their own identity (a
    `stream_id`, else the file name without its segment suffix: `Jane_889297633_0.mp4` and
    `Jane_889297633_1.mp4` are segments 0 and 1 of stream `Jane_889297633`), never by
    display name, so two people who share a name stay two streams (and the join calls the
    name ambiguous instead of merging them).
    """
    streams: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"video manifest array holds a {type(item).__name__}, not an object")
        who = item.get("participant")
        name = who.get("name") if isinstance(who, dict) else item.get("participant_name")
        if not isinstance(name, str):
            raise ValueError("video manifest item has no participant name")
        kind = "screenshare" if str(item.get("type", "webcam")).casefold() in _SCREEN else "webcam"
        stream_id, index = _stream_identity(item, f"{kind}-{position}")
        streams.setdefault((kind, name, stream_id), []).append({"segment_index": index, **item})
    # An empty array is the flat shape's way of saying "no streams available".
    nested: dict[str, Any] = {"participants": [], "screenshares": [], "available": bool(items)}
    for (kind, name, stream_id), files in streams.items():
        segments = sorted(files, key=lambda f: int(f["segment_index"]))
        entry = {
            "participant_name": name,
            "streams": [{"stream_id": stream_id, "segments": segments}],
        }
        nested["screenshares" if kind == "screenshare" else "participants"].append(entry)
    return nested


_SEGMENT_FILE = re.compile(r"^(?P<stream>.+)_(?P<index>\d+)\.[A-Za-z0-9]+$")


def _stream_identity(item: dict[str, Any], fallback: str) -> tuple[str, int]:
    """(stream id, segment index) of one flat item; a file with no recognizable name is a
    stream of its own (`fallback`)."""
    index = item.get("segment_index")
    if item.get("stream_id"):
        return str(item["stream_id"]), int(index or 0)
    name = item.get("filename")
    if not name:
        url = item.get("download_url") or item.get("url") or ""
        name = unquote(urlsplit(str(url)).path.rsplit("/", 1)[-1])
    match = _SEGMENT_FILE.match(str(name))
    if match is None:
        return fallback, int(index or 0)
    return match["stream"], int(index if index is not None else match["index"])


_SCREEN = {"screenshare", "screen_share", "screen", "presentation"}


class MixedAudio(Liberal):
    audio_url: str = Field(repr=False)


class VideoInfo(Liberal):
    duration: float | None = None
    size_mb: float | None = None
    resolution: str | None = None
    fps: float | None = None


class CompositeVideo(Liberal):
    video_url: str = Field(repr=False)
    video_info: VideoInfo | None = None


class MeetingParticipant(Liberal):
    """One device in `get_participants` (one person on two devices is two entries)."""

    device_id: str | None = Field(default=None, alias="deviceId")
    display_name: str | None = Field(default=None, alias="displayName")
    full_name: str | None = Field(default=None, alias="fullName")
    humanized_status: str | None = None
    stream_ids: list[str] = Field(default_factory=list, alias="streamIds")
