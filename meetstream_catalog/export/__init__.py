"""Exports of the catalog for speech work: Lhotse manifests, an HF AudioFolder, RTTM.

Responsibility: read one meeting at a time from the catalog (`bots`, `media`, `speech`,
filtered by an optional SQL `WHERE` on `bots`) and write the files speech tools load:

- `lhotse`: `recordings.jsonl.gz` (each per-speaker file and the mixed recording, with
  their durable storage URIs) and `supervisions.jsonl.gz` (one per speech turn: recording,
  start, duration, speaker), read by `lhotse.load_manifest`;
- `audiofolder`: Hugging Face's AudioFolder layout, `metadata.jsonl` (`file_name`,
  speaker, meeting and timing columns) beside the per-speaker files, copied (streamed) or
  symlinked, read by `datasets.load_dataset("audiofolder", data_dir=OUT)`;
- `rttm`: one NIST RTTM file per meeting (`SPEAKER <bot> 1 <start> <dur> <NA> <NA> <spk>
  <NA> <NA>`), diarization ground truth for NeMo, pyannote, dscore.

Traps guarded against: memory (only one meeting's rows are held; files are streamed in
1 MiB chunks, never read whole); namesakes (a speaker label is the name, plus the device
id when two devices of one meeting share that name, so two "Alex Kim"s stay two
speakers; RTTM fields have no whitespace); per-speaker files whose `duration_seconds` is
talk time, not file length (a file spans the recording: its length is the composite
video's duration, else the mixed WAV's, else the last turn's end).
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import fsspec

from meetstream_catalog.catalog.query import QueryError, connect

Format = Literal["lhotse", "audiofolder", "rttm"]
FORMATS: tuple[Format, ...] = ("lhotse", "audiofolder", "rttm")
_CHUNK = 1 << 20


@dataclass
class ExportSummary:
    """What an export wrote."""

    format: str
    meetings: int = 0
    recordings: int = 0
    supervisions: int = 0
    files: int = 0
    bytes: int = 0
    outputs: list[str] = field(default_factory=list)


@dataclass
class Meeting:
    bot_id: str
    platform: str | None
    meeting_date: str
    media: list[dict[str, Any]]
    turns: list[dict[str, Any]]


def _safe(text: str) -> str:
    return re.sub(r"[^\w.@-]+", "_", text, flags=re.UNICODE).strip("_") or "unknown"


def _where(where: str | None) -> str:
    return f"where ({where})" if where and where.strip() else ""


def meetings(
    root: str, where: str | None = None, storage_options: Mapping[str, Any] | None = None
) -> Iterator[Meeting]:
    """Meetings with archived audio, one at a time in bot_id order, streamed from the
    catalog: media and speech rows come as two ordered record-batch streams."""
    opts = dict(storage_options or {})
    # `where` is the user's own SQL, as in `meetstream-catalog query`: it runs in an
    # in-memory DuckDB over read-only views of the catalog, with nothing else to reach.
    chosen = f"(select bot_id from bots {_where(where)})"  # noqa: S608
    try:
        con = connect(root, opts)
        bots = con.sql(
            f"select bot_id, platform, cast(meeting_date as varchar) from bots {_where(where)} "  # noqa: S608
            "order by bot_id"
        ).fetchall()
        media = _grouped(
            connect(root, opts),
            f"select * from media where bot_id in {chosen} and kind <> 'webcam' "  # noqa: S608
            "and kind <> 'screenshare' order by bot_id, kind, stream_id, segment_index",
        )
        speech = _grouped(
            connect(root, opts),
            f"select * from speech where bot_id in {chosen} order by bot_id, turn_index",  # noqa: S608
        )
    except duckdb.Error as exc:
        raise QueryError(str(exc).splitlines()[0]) from exc
    for bot_id, platform, day in bots:
        files, turns = media.take(bot_id), speech.take(bot_id)
        if any(m["kind"] in ("audio", "mixed_audio") for m in files):
            yield Meeting(str(bot_id), platform, str(day), files, turns)


class _grouped:
    """Rows of an ordered query, handed out one bot at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, sql: str) -> None:
        self._con = con
        self._reader = con.sql(sql).to_arrow_reader(4096)
        self._pending: list[dict[str, Any]] = []

    def _rows(self) -> Iterator[dict[str, Any]]:
        for batch in self._reader:
            yield from batch.to_pylist()

    def take(self, bot_id: str) -> list[dict[str, Any]]:
        if not hasattr(self, "_it"):
            self._it = self._rows()
        out: list[dict[str, Any]] = []
        while True:
            if not self._pending:
                row = next(self._it, None)
                if row is None:
                    return out
                self._pending.append(row)
            row = self._pending[0]
            if row["bot_id"] < bot_id:
                self._pending.pop(0)
                continue
            if row["bot_id"] > bot_id:
                return out
            out.append(self._pending.pop(0))


def speaker_labels(turns: list[dict[str, Any]]) -> dict[tuple[str | None, str | None], str]:
    """`{(device_id, name): label}`: the name, plus the device when two devices share it."""
    devices: dict[str, set[str | None]] = {}
    for t in turns:
        devices.setdefault(t["participant_name"] or "", set()).add(t["device_id"])
    labels = {}
    for t in turns:
        name = t["participant_name"] or ""
        label = _safe(name or str(t["device_id"]))
        if len(devices[name]) > 1:
            label = f"{label}_{_safe(str(t['device_id']))}"
        labels[(t["device_id"], t["participant_name"])] = label
    return labels


def _wav_info(uri: str, opts: Mapping[str, Any]) -> tuple[int, int] | None:
    """(sample rate, samples) from a RIFF/WAV header (its first bytes only), else None."""
    with fsspec.open(uri, "rb", **opts) as f:
        head = f.read(4096)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    rate = channels = bits = 0
    pos = 12
    while pos + 8 <= len(head):
        tag, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if tag == b"fmt ":
            channels = int.from_bytes(head[pos + 10 : pos + 12], "little")
            rate = int.from_bytes(head[pos + 12 : pos + 16], "little")
            bits = int.from_bytes(head[pos + 22 : pos + 24], "little")
        elif tag == b"data" and rate and channels and bits:
            return rate, size // (channels * max(1, bits // 8))
        pos += 8 + size + (size & 1)
    return None


def meeting_length(m: Meeting, opts: Mapping[str, Any]) -> float:
    video = [x["duration_seconds"] for x in m.media if x["kind"] == "composite_video"]
    if video and video[0]:
        return float(video[0])
    for x in m.media:
        if x["kind"] == "mixed_audio" and (info := _wav_info(x["storage_uri"], opts)):
            return info[1] / info[0]
    return max((t["end_seconds"] for t in m.turns), default=0.0)


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
