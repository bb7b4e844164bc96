"""Which file goes to which key: storage keys, the media plan, and a file's URL again later.

Responsibilities: turn hostile participant names into safe, collision-free keys; plan one
URL-free `MediaFile` per manifest segment; find that file's presigned URL again in a fresh
manifest (`segment_url`). Also the archive's error types, which planning raises too. Pure
code: no network, no storage. The file types are `meetstream_catalog.archive.files`; where
the files land is `meetstream_catalog.archive.storage`; the copying is
`meetstream_catalog.archive.transfer`.

Traps guarded against:
- a participant name is user input: `../`, absolute paths, NUL, RTL overrides, fullwidth
  slashes or an empty name must never escape the root, hide as a dotfile or collide;
- two people with the same name and no stream id must not share a key, and must each find
  their own URL again (the occurrence ordinal is carried in the key's hash);
- a plan holds no URL: presigned URLs expire within minutes and are bearer credentials.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import Counter
from collections.abc import Iterator
from typing import Any

from meetstream_catalog.archive.files import ArchivedMedia, MediaFile, MediaKind
from meetstream_catalog.meetstream.models import (
    AudioManifest,
    CompositeVideo,
    MixedAudio,
    Segment,
    VideoManifest,
)

SAFE_EXTENSIONS = frozenset({".webm", ".wav", ".mp4"})
_DEFAULT_EXTENSION: dict[str, str] = {
    "audio": ".webm",
    "webcam": ".webm",
    "screenshare": ".webm",
    "mixed_audio": ".wav",
    "composite_video": ".mp4",
}
_SLUG_MAX = 48  # + "-" + 8 hex chars keeps every component under ~60 bytes (ASCII only)


# --- errors: the archive's family, raised by planning too ----------------------------


class ArchiveError(Exception):
    """A media file could not be archived; nothing was published at its key. The message
    names the file once (`describe`) and says why, without a URL or what to do next: the
    capture's summary says that once, for all its files."""


class MediaGoneError(ArchiveError):
    """The file is no longer in the manifest or its URL answers 404/410 (permanent)."""


def describe(item: MediaFile) -> str:
    """Who and what, for messages; repr() escapes control characters in hostile names."""
    who = "the meeting" if item.participant_name is None else repr(item.participant_name)
    return f"{item.kind} of {who} (segment {item.segment_index}, key {item.key})"


class ArchiveBatchError(ArchiveError):
    """Some files of `archive_all` failed; the others were archived and are in `archived`."""

    def __init__(
        self, archived: list[ArchivedMedia], failures: list[tuple[MediaFile, Exception]]
    ) -> None:
        self.archived, self.failures = archived, failures
        super().__init__(
            f"{len(failures)} of {len(archived) + len(failures)} media files could not be "
            f"archived: {'; '.join(self.missing())}"
        )

    def missing(self) -> list[str]:
        """One line per file that could not be archived: which file (once), and why."""
        return [_file_reason(item, exc) for item, exc in self.failures]


def _file_reason(item: MediaFile, exc: Exception) -> str:
    # Our own messages name the file and never hold a URL; foreign exceptions might hold
    # one, so only their type is named.
    return str(exc) if isinstance(exc, ArchiveError) else f"{describe(item)}: {type(exc).__name__}"


# --- keys: where a file goes, whatever its participant is called ---------------------


def _short_hash(*values: object) -> str:
    # json keeps None distinct from "None" and the tuple structure unambiguous.
    raw = json.dumps(values, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:8]


def _slug(text: str | None, fallback: str) -> str:
    """ASCII a-z0-9 and single dashes, never empty, never starting with '.' or '-'."""
    if text is None:
        return fallback
    # NFKD folds fullwidth and compatibility forms and splits accents off their letters;
    # everything that is not ASCII alphanumeric (slashes, dots, NUL, bidi controls) becomes '-'.
    folded = unicodedata.normalize("NFKD", text)
    chars = [c.lower() if c.isascii() and c.isalnum() else "-" for c in folded if c.isprintable()]
    slug = "-".join(part for part in "".join(chars).split("-") if part)
    return slug[:_SLUG_MAX].strip("-") or fallback


def storage_key(
    bot_id: str,
    kind: MediaKind,
    participant_name: str | None,
    stream_id: str | None,
    segment_index: int,
    filename: str | None,
    *,
    occurrence: int = 0,
) -> str:
    """Relative key `<bot>/<kind>/<name-slug>-<hash8>/<segment>-<file-slug><ext>`.

    The hash covers the original name and stream id (and, when the stream id is missing,
    the `occurrence` ordinal of that name in the manifest), so names that differ only by
    case, whitespace or normalization, or two people sharing a name, get distinct keys.
    """
    if kind not in _DEFAULT_EXTENSION:
        raise ValueError(f"unknown media kind {kind!r}")
    bot = _slug(bot_id, "bot")
    if bot != bot_id:
        bot = f"{bot}-{_short_hash(bot_id)}"
    who_hash = _short_hash(participant_name, stream_id, None if stream_id else occurrence)
    who = _slug(participant_name, "meeting" if participant_name is None else "participant")
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    suffix = f".{ext.lower()}" if dot else ""
    if not filename:
        suffix = _DEFAULT_EXTENSION[kind]
    elif suffix not in SAFE_EXTENSIONS:
        suffix = ".bin"
    leaf = f"{segment_index}-{_slug(stem, 'segment')}{suffix}"
    return f"{bot}/{kind}/{who}-{who_hash}/{leaf}"


# --- the plan: which file goes to which key ------------------------------------------


def _segments(
    audio: AudioManifest | None, video: VideoManifest | None
) -> Iterator[tuple[MediaKind, str, str | None, int, Segment]]:
    """(kind, name, stream_id, occurrence, segment); occurrence numbers the streams of
    one name within one kind, so namesakes without stream ids stay apart."""
    groups: list[tuple[MediaKind, Any]] = []
    if audio is not None:
        groups.append(("audio", audio.participants))
    if video is not None:
        groups += [("webcam", video.participants), ("screenshare", video.screenshares)]
    for kind, participants in groups:
        seen: Counter[str] = Counter()
        for person in participants:
            for stream in person.streams:
                occurrence = seen[person.participant_name]
                seen[person.participant_name] += 1
                for seg in stream.segments:
                    yield kind, person.participant_name, stream.stream_id, occurrence, seg


def plan_media(
    bot_id: str,
    audio: AudioManifest | None,
    video: VideoManifest | None,
    mixed: MixedAudio | None = None,
    composite: CompositeVideo | None = None,
) -> list[MediaFile]:
    """One MediaFile per segment (audio, webcam, screenshare, then mixed and composite),
    in manifest order. Holds no URL: fetch it fresh with `segment_url`."""
    planned: dict[str, MediaFile] = {}
    for kind, name, stream_id, occurrence, seg in _segments(audio, video):
        key = storage_key(
            bot_id, kind, name, stream_id, seg.segment_index, seg.filename, occurrence=occurrence
        )
        meta = seg.model_dump(exclude={"url"})
        planned.setdefault(
            key,
            MediaFile(
                bot_id=bot_id,
                kind=kind,
                participant_name=name,
                stream_id=stream_id,
                key=key,
                **meta,
            ),
        )
    if mixed is not None:
        key = storage_key(bot_id, "mixed_audio", None, None, 0, "audio.wav")
        planned[key] = MediaFile(
            bot_id=bot_id, kind="mixed_audio", filename="audio.wav", codec="pcm", key=key
        )
    if composite is not None:
        info = composite.video_info
        width, _, height = ((info and info.resolution) or "").partition("x")
        key = storage_key(bot_id, "composite_video", None, None, 0, "video.mp4")
        planned[key] = MediaFile(
            bot_id=bot_id, kind="composite_video", filename="video.mp4", key=key,
            duration_seconds=info.duration if info else None,
            width=int(width) if width.isdigit() else None,
            height=int(height) if height.isdigit() else None,
        )  # fmt: skip
    return list(planned.values())


def segment_url(
    item: MediaFile,
    audio: AudioManifest | None,
    video: VideoManifest | None,
    mixed: MixedAudio | None = None,
    composite: CompositeVideo | None = None,
) -> str:
    """The presigned URL of `item` in (fresh) manifests. Raises MediaGoneError if absent."""
    url: str | None = None
    if item.kind == "mixed_audio":
        url = mixed.audio_url if mixed else None
    elif item.kind == "composite_video":
        url = composite.video_url if composite else None
    else:
        wanted_dir = item.key.split("/")[2]
        for kind, name, stream_id, occurrence, seg in _segments(audio, video):
            if kind != item.kind or seg.segment_index != item.segment_index:
                continue
            if item.stream_id:
                found = stream_id == item.stream_id
            else:  # no id: same name, same occurrence (carried in the key's hash)
                key = storage_key(item.bot_id, kind, name, None, 0, None, occurrence=occurrence)
                found = stream_id is None and key.split("/")[2] == wanted_dir
            if found:
                url = seg.url
                break
    if not url:
        raise MediaGoneError(
            f"{describe(item)}: no longer in the bot's manifest, so it cannot be archived"
        )
    return url
