"""The export formats, written one meeting at a time (see `meetstream_catalog.export`).

The trap guarded against: an export without DuckDB (the `query` extra) that creates the
output directory and empty manifests before it fails: DuckDB is required before anything is
written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from meetstream_catalog.catalog.audit import ExportRecord, participant_digest, record_export
from meetstream_catalog.export.diarization import Diarization
from meetstream_catalog.export.files import GzipJsonl, copy_file
from meetstream_catalog.export.meetings import (
    Meeting,
    meeting_length,
    meetings,
    require_duckdb,
    speaker_labels,
    wav_info,
)
from meetstream_catalog.export.summary import ExportSummary
from meetstream_catalog.roots import Root

Format = Literal["lhotse", "audiofolder", "rttm", "nemo", "ctm"]
FORMATS: tuple[Format, ...] = ("lhotse", "audiofolder", "rttm", "nemo", "ctm")


def _recording_id(m: Meeting, media: Mapping[str, Any]) -> str:
    return f"{m.bot_id}_{media['stream_id'] or 'mixed'}"


def _source(uri: str) -> dict[str, Any]:
    if uri.startswith("file://"):
        return {"type": "file", "channels": [0], "source": uri.removeprefix("file://")}
    return {"type": "url", "channels": [0], "source": uri}


def _lhotse(m: Meeting, out: tuple[GzipJsonl, GzipJsonl], s: ExportSummary, opts: Any) -> None:
    recordings, supervisions = out
    length = meeting_length(m, opts)
    by_stream: dict[str, str] = {}
    mixed = None
    for f in m.media:
        if f["kind"] not in ("audio", "mixed_audio") or f["segment_index"] not in (0, None):
            continue
        wav = wav_info(f["storage_uri"], opts) if f["kind"] == "mixed_audio" else None
        rate = wav[0] if wav else int(f["sample_rate"] or 48000)
        rid = _recording_id(m, f)
        recordings.write(
            {"id": rid, "sources": [_source(f["storage_uri"])], "sampling_rate": rate,
             "num_samples": round(length * rate), "duration": length, "channel_ids": [0]}
        )  # fmt: skip
        s.recordings += 1
        if f["kind"] == "audio":
            by_stream[f["stream_id"]] = rid
        else:
            mixed = rid
    labels = speaker_labels(m.turns)
    for t in m.turns:
        on = by_stream.get(t["audio_stream_id"]) or mixed
        if on is None:
            continue
        supervision = {
            "id": f"{m.bot_id}_turn{t['turn_index']:05d}", "recording_id": on,
            "start": t["start_seconds"], "duration": t["duration_seconds"], "channel": 0,
            "speaker": labels[(t["device_id"], t["participant_name"])],
        }  # fmt: skip
        if text := _said_in(t, m.utterances):
            supervision["text"] = text
        supervisions.write(supervision)
        s.supervisions += 1


def _said_in(turn: Mapping[str, Any], utterances: list[dict[str, Any]]) -> str:
    """The text of the turn's speaker's utterances whose midpoint falls in the turn."""
    same = (turn["device_id"], turn["participant_key"])
    texts = [
        u["text"]
        for u in utterances
        if (u["device_id"], u["participant_key"]) == same
        and u["start_seconds"] is not None
        and u["end_seconds"] is not None
        and turn["start_seconds"]
        <= (u["start_seconds"] + u["end_seconds"]) / 2
        < turn["end_seconds"]
    ]
    return " ".join(t for t in texts if t)


def _nemo(m: Meeting, manifest: Any, s: ExportSummary) -> None:
    """One NeMo ASR manifest line per timed utterance, on its speaker's own file (else the
    mixed recording): `audio_filepath`, `offset`, `duration`, `text`, `speaker`."""
    tracks = {f["stream_id"]: f for f in m.media if f["kind"] == "audio"}
    mixed = next((f for f in m.media if f["kind"] == "mixed_audio"), None)
    labels = speaker_labels([u for u in m.utterances if u["participant_name"]])
    for u in m.utterances:
        start, end = u["start_seconds"], u["end_seconds"]
        audio = tracks.get(u["audio_stream_id"]) or mixed
        if audio is None or start is None or end is None or end <= start or not u["text"]:
            continue
        uri = audio["storage_uri"]
        speaker = labels.get((u["device_id"], u["participant_name"]))
        row = {
            "audio_filepath": uri.removeprefix("file://"), "offset": round(start, 3),
            "duration": round(end - start, 3), "text": u["text"], "speaker": speaker,
            "meeting": m.bot_id, "utterance_index": u["utterance_index"],
            "own_track": audio["kind"] == "audio", "attribution": u["attribution"],
        }  # fmt: skip
        manifest.write(json.dumps(row, ensure_ascii=False) + "\n")
        s.supervisions += 1


def _audiofolder(m: Meeting, out: Path, meta: Any, s: ExportSummary, opts: Any, link: bool) -> None:
    labels = speaker_labels(m.turns)
    length = None
    for f in m.media:
        if f["kind"] != "audio":
            continue
        turns = [t for t in m.turns if t["audio_stream_id"] == f["stream_id"]]
        label = labels[(turns[0]["device_id"], turns[0]["participant_name"])] if turns else None
        name = f"{m.bot_id}/{f['stream_id']}_{f['segment_index']}.webm"
        s.bytes += copy_file(f["storage_uri"], str(out / name), opts, link=link)
        s.files += 1
        length = length if length is not None else meeting_length(m, opts)
        row = {
            "file_name": name, "speaker": label or f["participant_name"],
            "participant_name": f["participant_name"], "meeting": m.bot_id,
            "platform": m.platform, "meeting_date": m.meeting_date, "duration": length,
            "talk_seconds": f["duration_seconds"],
            "turn_starts": [t["start_seconds"] for t in turns],
            "turn_ends": [t["end_seconds"] for t in turns],
        }  # fmt: skip
        meta.write(json.dumps(row, ensure_ascii=False) + "\n")


def _ctm(m: Meeting, out: Path, s: ExportSummary) -> None:
    """One NIST CTM file per meeting with a transcript: `<bot> 1 <start> <dur> <word>
    <confidence>` per timed word, in time order (the same file id as the RTTM)."""
    lines = [
        f"{m.bot_id} 1 {w['start_seconds']:.3f} "
        f"{max(w['end_seconds'] - w['start_seconds'], 0.0):.3f} {_token(w['word'])}"
        + (f" {w['confidence']:.3f}" if w["confidence"] is not None else "")
        + "\n"
        for w in m.words
        if w["word"] and _token(w["word"])
    ]
    if lines:
        (out / f"{m.bot_id}.ctm").write_text("".join(lines), encoding="utf-8")
        s.files += 1
        s.supervisions += len(lines)


def _token(word: str) -> str:
    """A CTM token: no whitespace inside (fields are space-separated)."""
    return "_".join(word.split())


def export(
    fmt: Format,
    out: str,
    root: Root | str,
    *,
    where: str | None = None,
    media: Root | None = None,
    link: bool = False,
) -> ExportSummary:
    """Write `fmt` under the local directory `out`; returns counts. Media may be on s3://.

    `root` is the catalog; the archived files it lists are opened with the storage options
    of `media` (the media root), or the catalog root's when `media` has none (not given, or
    local while the files' URIs are on S3).

    Raises QueryUnavailableError (before writing anything) when DuckDB is not installed,
    QueryError when the catalog or `where` cannot be read.
    """
    require_duckdb()
    root = Root.at(root)
    opts = dict(media.options if media is not None and media.options else root.options)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(fmt)
    lhotse = None
    meta = None
    diarization = Diarization(target, opts) if fmt == "rttm" else None
    if fmt == "nemo":
        meta = (target / "manifest.jsonl").open("w", encoding="utf-8")
    elif fmt == "lhotse":
        lhotse = (
            GzipJsonl(str(target / "recordings.jsonl.gz"), {}),
            GzipJsonl(str(target / "supervisions.jsonl.gz"), {}),
        )
    elif fmt == "audiofolder":
        meta = (target / "metadata.jsonl").open("w", encoding="utf-8")
    try:
        for m in meetings(root, where):
            summary.saw(m)
            if lhotse is not None:
                _lhotse(m, lhotse, summary, opts)
            elif fmt == "nemo":
                _nemo(m, meta, summary)
            elif fmt == "ctm":
                _ctm(m, target, summary)
            elif meta is not None:
                _audiofolder(m, target, meta, summary, opts, link)
            elif diarization is not None:
                diarization.add(m, summary)
        if diarization is not None:
            diarization.finish(summary)
    finally:
        for w in lhotse or ():
            w.close()
        if meta is not None:
            meta.close()
    _record(root, fmt, target, where, summary)
    return summary


def _record(root: Root, fmt: Format, target: Path, where: str | None, s: ExportSummary) -> None:
    """Record the run in the `exports` table, so an erasure can find this folder again."""
    record = ExportRecord(
        format=fmt,
        location=Root.at(str(target)).url,
        filter=where,
        bot_ids=tuple(s.bot_ids),
        participant_digests=tuple(sorted(participant_digest(k) for k in s.participant_keys)),
        meetings=s.meetings,
        files=s.files,
    )
    record_export(root, record)
