"""What an export writes, streamed: gzip'd JSON lines and copies of media files.

The trap guarded against: memory. A manifest is appended line by line as meetings come, and
a media file (local or s3://) is copied in 1 MiB chunks, never read whole.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fsspec

_CHUNK = 1 << 20


class GzipJsonl:
    """Append JSON lines to a gzip file as they come (never the whole set in memory)."""

    def __init__(self, path: str, opts: Mapping[str, Any]) -> None:
        self._raw = fsspec.open(path, "wb", **opts).open()
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb")

    def write(self, item: Mapping[str, Any]) -> None:
        self._gz.write(json.dumps(item, ensure_ascii=False).encode() + b"\n")

    def close(self) -> None:
        self._gz.close()
        self._raw.close()


def copy_file(src: str, dst: str, opts: Mapping[str, Any], *, link: bool) -> int:
    """Stream `src` to local `dst` (or symlink a local source); returns the bytes."""
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    if link and src.startswith("file://"):
        target = Path(src.removeprefix("file://"))
        Path(dst).unlink(missing_ok=True)
        Path(dst).symlink_to(target)
        return target.stat().st_size
    with fsspec.open(src, "rb", **opts) as r, Path(dst).open("wb") as w:
        shutil.copyfileobj(r, w, _CHUNK)
        return w.tell()
