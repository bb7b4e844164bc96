"""The files the archive handles: `MediaFile` (one file of a bot's manifests, as planned) and
`ArchivedMedia` (that file once stored, as the catalog's `media` table records it).

The trap guarded here is a presigned URL outliving its minutes: neither model has a field
for one, so a plan or a result can be returned from a task, logged or persisted safely. A
file's URL is looked up in a fresh manifest when it is needed
(`meetstream_catalog.archive.plan.segment_url`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

MediaKind = Literal["audio", "webcam", "screenshare", "mixed_audio", "composite_video"]


class MediaFile(BaseModel):
    """One file of a bot's manifests, as planned for archiving. Holds no URL.

    `key` is the storage key relative to the media root, built by
    `meetstream_catalog.archive.plan.storage_key` from sanitized names plus a short hash,
    so it can neither escape the root nor collide.
    """

    model_config = ConfigDict(frozen=True)

    bot_id: str
    kind: MediaKind
    participant_name: str | None = None
    stream_id: str | None = None
    segment_index: int = 0
    filename: str | None = None
    duration_seconds: float | None = None
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    width: int | None = None
    height: int | None = None
    key: str


class ArchivedMedia(MediaFile):
    """A MediaFile after it was copied: durable URI, size and checksum."""

    storage_uri: str
    bytes: int
    sha256: str
    copied: bool = True
