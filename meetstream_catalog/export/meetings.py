"""The catalog, one meeting at a time: the rows an export writes, its speakers, its length.

Traps guarded against: memory (only one meeting's rows are held: media and speech come as
two ordered record-batch streams); namesakes (a speaker label is the name, plus the device
id when two devices of one meeting share that name, so two "Alex Kim"s stay two speakers;
labels have no whitespace, as RTTM needs); per-speaker files whose `duration_seconds` is
talk time, not file length (a file spans the recording: its length is the composite
video's duration, else the mixed WAV's, else the last turn's end); DuckDB missing (the
`query` extra): it is imported when an export starts, and its absence is a
`QueryUnavailableError` that says what to install, not an ImportError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import fsspec

from meetstream_catalog.catalog.query import (
    INSTALL_HINT,
    QueryError,
    QueryUnavailableError,
    connect,
    referenced_tables,
)
from meetstream_catalog.roots import Root

if TYPE_CHECKING:
    import duckdb


@dataclass
class Meeting:
    """One meeting's exported rows: its audio `media` (no video), speech `turns` and
    transcript `utterances` (empty without a transcript), and `bots.speaker_timeline`
    (`empty`: the timeline says nobody spoke; null: it was never read)."""

    bot_id: str
    platform: str | None
    meeting_date: str
    media: list[dict[str, Any]]
    turns: list[dict[str, Any]]
    utterances: list[dict[str, Any]] = field(default_factory=list)
    words: list[dict[str, Any]] = field(default_factory=list)
    speaker_timeline: str | None = None


def require_duckdb() -> Any:
    """The `duckdb` module. Raises QueryUnavailableError (what to install) without it."""
    try:
        import duckdb
    except ImportError as exc:
        raise QueryUnavailableError(
            f"exports read the catalog with DuckDB, which is not installed: {INSTALL_HINT}"
        ) from exc
    return duckdb


def _where(where: str | None) -> str:
    return f"where ({where})" if where and where.strip() else ""


def meetings(root: Root | str, where: str | None = None) -> Iterator[Meeting]:
    """Meetings with archived audio, one at a time in bot_id order, streamed from the
    catalog: media and speech rows come as two ordered record-batch streams.

    Raises QueryError (one line) when the catalog or `where` cannot be read, and
    QueryUnavailableError when DuckDB is not installed.
    """
    db, root = require_duckdb(), Root.at(root)
    # `where` is the user's own SQL, as in `meetstream-catalog query`: it runs in an
    # in-memory DuckDB over read-only views of the catalog, with nothing else to reach.
    chosen = f"(select bot_id from bots {_where(where)})"  # noqa: S608
    try:
        con = connect(root)
        bots = con.sql(
            "select bot_id, platform, cast(meeting_date as varchar), speaker_timeline "  # noqa: S608
            f"from bots {_where(where)} order by bot_id"
        ).fetchall()
        media = _grouped(
            root,
            f"select * from media where bot_id in {chosen} and kind <> 'webcam' "  # noqa: S608
            "and kind <> 'screenshare' order by bot_id, kind, stream_id, segment_index",
        )
        speech = _grouped(
            root,
            f"select * from speech where bot_id in {chosen} order by bot_id, turn_index",  # noqa: S608
        )
        said = _grouped(
            root,
            f"select * from utterances where bot_id in {chosen} "  # noqa: S608
            "order by bot_id, utterance_index",
        )
        timed = _grouped(
            root,
            f"select * from words where bot_id in {chosen} "  # noqa: S608
            "order by bot_id, start_seconds, utterance_index, word_index",
        )
    except db.Error as exc:
        raise QueryError(str(exc).splitlines()[0]) from exc
    for bot_id, platform, day, timeline in bots:
        files, turns = media.take(bot_id), speech.take(bot_id)
        utterances, words = said.take(bot_id), timed.take(bot_id)
        if any(m["kind"] in ("audio", "mixed_audio") for m in files):
            yield Meeting(
                str(bot_id), platform, str(day), files, turns, utterances, words, timeline
            )


def _grouped(root: Root, sql: str) -> _Grouped:
    """`sql`'s rows by bot, over a connection with only the tables `sql` reads."""
    return _Grouped(connect(root, tables=referenced_tables(sql)), sql)


class _Grouped:
    """Rows of a query ordered by bot_id, handed out one bot at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, sql: str) -> None:
        self._con = con  # the reader streams from it: keep it open as long as this lives
        self._rows = self._iterate(con.sql(sql).to_arrow_reader(4096))
        self._next: dict[str, Any] | None = None

    @staticmethod
    def _iterate(reader: Any) -> Iterator[dict[str, Any]]:
        for batch in reader:
            yield from batch.to_pylist()

    def take(self, bot_id: str) -> list[dict[str, Any]]:
        """The rows of `bot_id`; rows of bots before it are dropped (not asked for)."""
        out: list[dict[str, Any]] = []
        while True:
            row = self._next if self._next is not None else next(self._rows, None)
            self._next = None
            if row is None:
                return out
            if row["bot_id"] > bot_id:
                self._next = row
                return out
            if row["bot_id"] == bot_id:
                out.append(row)


def safe_name(text: str) -> str:
    """`text` with every run of characters other than word, `.`, `@`, `-` as one `_`."""
    return re.sub(r"[^\w.@-]+", "_", text, flags=re.UNICODE).strip("_") or "unknown"


# Labels that pandas (and so pyannote.database's RTTM reader) reads as missing values.
_READ_AS_MISSING = frozenset({"na", "n_a", "nan", "-nan", "null", "none", "_na"})


def speaker_labels(turns: list[dict[str, Any]]) -> dict[tuple[str | None, str | None], str]:
    """`{(device_id, name): label}`: the name, plus the device when two devices share it
    ("unknown" when there is neither; a name such as "NA" or "None", which readers take for
    a missing value, gets a trailing `_`). Works on `utterances` rows too (they carry
    `device_id` and `participant_name`)."""
    devices: dict[str, set[str | None]] = {}
    for t in turns:
        devices.setdefault(t["participant_name"] or "", set()).add(t["device_id"])
    labels = {}
    for t in turns:
        name = t["participant_name"] or ""
        label = safe_name(name or t["device_id"] or "")
        if label.lower() in _READ_AS_MISSING:
            label += "_"
        if len(devices[name]) > 1:
            label = f"{label}_{safe_name(str(t['device_id']))}"
        labels[(t["device_id"], t["participant_name"])] = label
    return labels


def wav_info(uri: str, opts: Mapping[str, Any]) -> tuple[int, int] | None:
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
    """Seconds every per-speaker file of `m` spans: the composite video's duration, else
    the mixed WAV's, else the end of the last turn."""
    video = [x["duration_seconds"] for x in m.media if x["kind"] == "composite_video"]
    if video and video[0]:
        return float(video[0])
    for x in m.media:
        if x["kind"] == "mixed_audio" and (info := wav_info(x["storage_uri"], opts)):
            return info[1] / info[0]
    return max((t["end_seconds"] for t in m.turns), default=0.0)
