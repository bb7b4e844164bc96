"""Where media lands: storage keys, the plan of a bot's files, fsspec roots, atomic writes.

Responsibilities: turn hostile participant names into safe, collision-free keys; plan one
URL-free `MediaFile` per manifest segment and find its URL again in a fresh manifest; open
a `file://` or `s3://` root through fsspec; write a stream so that a reader never sees a
partial object at its final key. The copying itself is `tasks.archive`.

Traps guarded against:
- a participant name is user input: `../`, absolute paths, NUL, RTL overrides, fullwidth
  slashes or an empty name must never escape the root, hide as a dotfile or collide;
- fsspec's buffered file commits on `close()`, and `__exit__` and even `__del__` call
  `close()` on an error path, so an S3 multipart upload interrupted mid-stream would be
  published truncated. `FsspecWriter.discard` aborts the upload and marks the file closed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import fsspec

from tasks.models import (
    AudioManifest,
    CompositeVideo,
    MediaFile,
    MediaKind,
    MixedAudio,
    Segment,
    VideoManifest,
)
from tasks.settings import resolve_root

SAFE_EXTENSIONS = frozenset({".webm", ".wav", ".mp4"})
_DEFAULT_EXTENSION: dict[str, str] = {
    "audio": ".webm",
    "webcam": ".webm",
    "screenshare": ".webm",
    "mixed_audio": ".wav",
    "composite_video": ".mp4",
}
_SLUG_MAX = 48  # + "-" + 8 hex chars keeps every component under ~60 bytes (ASCII only)
# s3fs rejects parts under 5 MiB; a small block bounds the memory held per open upload.
S3_BLOCK_SIZE = 8 * 2**20


class StorageIntegrityError(OSError):
    """What landed in storage is not what was written (size differs after upload)."""


class ArchiveError(Exception):
    """A media file could not be archived. Nothing was published at its key; re-run the flow."""


class MediaGoneError(ArchiveError):
    """The file is no longer in the manifest or its URL answers 404/410 (permanent)."""


def describe(item: MediaFile) -> str:
    """Who and what, for messages; repr() escapes control characters in hostile names."""
    who = "the meeting" if item.participant_name is None else repr(item.participant_name)
    return f"{item.kind} of {who} (segment {item.segment_index}, key {item.key})"


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


@dataclass(frozen=True)
class StorageRoot:
    """An opened media root: the fsspec filesystem and the root path inside it."""

    fs: Any  # fsspec.AbstractFileSystem (untyped library)
    path: str
    protocol: str

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    def full_path(self, key: str) -> str:
        return f"{self.path}/{key}"

    def uri(self, key: str) -> str:
        """Durable URI of a key: `file:///abs/path` or `s3://bucket/key`, never presigned."""
        return f"{self.protocol}://{self.full_path(key)}"

    def size_of(self, key: str) -> int | None:
        """Size of the stored object, or None when there is none."""
        path = self.full_path(key)
        self.fs.invalidate_cache(path)
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        return int(info["size"]) if info.get("type") == "file" else None

    def sha256_of(self, key: str, chunk_size: int = 1 << 20) -> tuple[str, int]:
        """Stream the stored object and return (sha256 hex, bytes)."""
        hasher, total = hashlib.sha256(), 0
        with self.fs.open(self.full_path(key), "rb", block_size=chunk_size) as f:
            while chunk := f.read(chunk_size):
                hasher.update(chunk)
                total += len(chunk)
        return hasher.hexdigest(), total


def open_root(media_root: str, storage_options: Any = None) -> StorageRoot:
    """Open a local path, `file://` or `s3://` URL as a StorageRoot."""
    url = resolve_root(media_root)
    fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    protocol = url.split("://", 1)[0]
    return StorageRoot(fs=fs, path=str(path).rstrip("/"), protocol=protocol)


class AtomicWriter(Protocol):
    """Blocking writer, called from a worker thread; nothing is visible before commit."""

    def write(self, data: bytes) -> None: ...

    def reset(self) -> None:
        """Forget everything written so far (the server restarted the body from zero)."""

    def commit(self, expected_size: int) -> None:
        """Publish at the final key, then check the stored size."""

    def discard(self) -> None:
        """Drop the partial data; the final key is left as it was."""


class LocalWriter:
    """Temporary file beside the target, fsync, then os.replace (atomic on POSIX)."""

    def __init__(self, final_path: str) -> None:
        self._final = Path(final_path)
        self._final.parent.mkdir(parents=True, exist_ok=True)
        # Same directory, so os.replace is a rename within one filesystem, never a copy.
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self._final.name}.", suffix=".part", dir=self._final.parent
        )
        self._tmp = Path(tmp)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._lock = threading.Lock()  # a cancelled write may still run in its thread

    def write(self, data: bytes) -> None:
        with self._lock:
            self._file.write(data)

    def reset(self) -> None:
        with self._lock:
            self._file.seek(0)
            self._file.truncate()

    def commit(self, expected_size: int) -> None:
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            size = os.fstat(self._file.fileno()).st_size
            self._file.close()
            if size != expected_size:
                self._tmp.unlink(missing_ok=True)
                raise StorageIntegrityError(f"wrote {size} bytes, expected {expected_size}")
            self._tmp.replace(self._final)
            # Make the rename itself durable, not only the file's contents.
            dir_fd = os.open(self._final.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def discard(self) -> None:
        with self._lock:
            self._file.close()
            self._tmp.unlink(missing_ok=True)


class FsspecWriter:
    """Buffered fsspec file (s3fs: multipart upload that materialises only on close)."""

    def __init__(self, root: StorageRoot, key: str, block_size: int = S3_BLOCK_SIZE) -> None:
        self._root, self._path, self._block = root, root.full_path(key), block_size
        self._lock = threading.Lock()
        self._file = self._open()

    def _open(self) -> Any:
        return self._root.fs.open(self._path, "wb", block_size=self._block)

    def _abort(self) -> None:
        self._file.discard()  # s3fs: abort_multipart_upload; nothing was published
        # Never let close() run later (fsspec's __del__ calls it): it would commit.
        self._file.closed = True

    def write(self, data: bytes) -> None:
        with self._lock:
            self._file.write(data)

    def reset(self) -> None:
        with self._lock:
            self._abort()
            self._file = self._open()

    def commit(self, expected_size: int) -> None:
        with self._lock:
            self._file.close()
        size = self._root.size_of(self._path.removeprefix(self._root.path + "/"))
        if size != expected_size:
            # Published but wrong: remove it rather than leave a bad object at the key.
            self._root.fs.rm(self._path)
            raise StorageIntegrityError(f"stored {size} bytes, expected {expected_size}")

    def discard(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._abort()


def open_writer(root: StorageRoot, key: str) -> AtomicWriter:
    """The atomic writer for this root: rename locally, abortable upload elsewhere."""
    if root.is_local:
        return LocalWriter(root.full_path(key))
    return FsspecWriter(root, key)


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
            f"{describe(item)} is no longer in the bot's manifest; it cannot be archived."
        )
    return url
