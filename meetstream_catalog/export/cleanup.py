"""Erasure in an export folder: the subject's manifest lines and files removed, format by
format, from a folder an earlier `export` wrote (found through the `exports` table).

Responsibility: `Erased` (what an erasure removes, as the exports name it: bots, file URIs,
speech turns, utterances, words) and `clean_export` (one folder, one format; returns the
entries removed). What each writer wrote (`meetstream_catalog.export.writers`):
- lhotse: `recordings.jsonl.gz` (id `<bot>_<stream>`, the file's path or URL as source) and
  `supervisions.jsonl.gz` (id `<bot>_turn<NNNNN>`, on a recording id);
- audiofolder: `metadata.jsonl` (`file_name` `<bot>/<stream>_<segment>.webm`, `meeting`)
  beside the copied files;
- rttm / ctm: one `<bot>.rttm` / `<bot>.ctm` per meeting, one line per turn / timed word;
  rttm also `<bot>.uem` and the pyannote.database lists `meetstream.<subset>.lst` (one uri,
  the bot id, per line), which must not name a meeting whose files are gone;
- nemo: `manifest.jsonl`, one line per utterance (`meeting`, `utterance_index`,
  `audio_filepath`).

Traps guarded against: a manifest left half-written by a crash (each is rewritten to a
temporary file beside it and renamed over it), and lines of other people removed with the
subject's (lines are matched on the ids the writers gave them, or the exact times the RTTM
and CTM lines print).
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Erased", "clean_export"]

Line = dict[str, object]


@dataclass(frozen=True)
class Erased:
    """What an erasure removes, in the terms the export writers used."""

    whole_bots: frozenset[str] = frozenset()  # a bot's erasure: every entry of the bot
    media_uris: frozenset[str] = frozenset()  # the erased files' storage URIs
    audio_files: frozenset[str] = frozenset()  # audiofolder names, `<bot>/<stream>_<seg>.webm`
    turns: frozenset[tuple[str, int]] = frozenset()  # (bot, turn_index)
    turn_spans: frozenset[tuple[str, str, str]] = frozenset()  # (bot, start, duration), %.3f
    utterances: frozenset[tuple[str, int]] = frozenset()  # (bot, utterance_index)
    words: frozenset[tuple[str, str, str, str]] = frozenset()  # (bot, start, duration, token)
    paths: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        # Local sources are written as plain paths in the manifests, others as URLs.
        paths = frozenset(u.removeprefix("file://") for u in self.media_uris)
        object.__setattr__(self, "paths", paths)

    def bot(self, bot_id: str) -> bool:
        return bot_id in self.whole_bots


def _rewrite(path: Path, keep: Callable[[str], bool], dry: bool, *, gz: bool = False) -> int:
    """Keep the lines of `path` that `keep` accepts (atomically); return how many went."""
    if not path.is_file():
        return 0
    opener = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8") as src:
        lines = src.readlines()
    kept = [line for line in lines if not line.strip() or keep(line)]
    if len(kept) == len(lines) or dry:
        return len(lines) - len(kept)
    tmp = path.with_name(f".{path.name}.erasing")
    with opener(tmp, "wt", encoding="utf-8") as out:
        out.writelines(kept)
    tmp.replace(path)
    return len(lines) - len(kept)


def _jsonl(path: Path, drop: Callable[[Line], bool], dry: bool, *, gz: bool = False) -> int:
    return _rewrite(path, lambda line: not drop(json.loads(line)), dry, gz=gz)


def _unlink(paths: Iterable[Path], dry: bool) -> int:
    gone = 0
    for path in paths:
        if path.is_dir():
            gone += 1
            if not dry:
                shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            gone += 1
            if not dry:
                path.unlink()
    return gone


def _lhotse(out: Path, e: Erased, dry: bool) -> int:
    dropped: set[str] = set()

    def recording(r: Line) -> bool:
        rid = str(r["id"])
        sources = r.get("sources") or []
        source = str(sources[0].get("source")) if isinstance(sources, list) and sources else ""
        whole = any(rid.startswith(f"{b}_") for b in e.whole_bots)
        if whole or source in e.paths or source in e.media_uris:
            dropped.add(rid)
            return True
        return False

    def supervision(s: Line) -> bool:
        bot, _, turn = str(s["id"]).rpartition("_turn")
        return (
            e.bot(bot)
            or s.get("recording_id") in dropped
            or (turn.isdigit() and (bot, int(turn)) in e.turns)
        )

    removed = _jsonl(out / "recordings.jsonl.gz", recording, dry, gz=True)
    return removed + _jsonl(out / "supervisions.jsonl.gz", supervision, dry, gz=True)


def _audiofolder(out: Path, e: Erased, dry: bool) -> int:
    names: set[str] = set()

    def row(r: Line) -> bool:
        if e.bot(str(r.get("meeting"))) or r.get("file_name") in e.audio_files:
            names.add(str(r["file_name"]))
            return True
        return False

    removed = _jsonl(out / "metadata.jsonl", row, dry)
    files = _unlink([out / n for n in sorted(names | set(e.audio_files))], dry)
    return removed + files + _unlink((out / b for b in sorted(e.whole_bots)), dry)


def _per_meeting(
    out: Path, e: Erased, dry: bool, suffix: str, match: Callable[[list[str]], bool]
) -> int:
    whole = [out / f"{b}{suffix}" for b in sorted(e.whole_bots)]
    removed = _unlink(whole, dry)
    for path in sorted(set(out.glob(f"*{suffix}")) - set(whole)):
        removed += _rewrite(path, lambda line: not match(line.split()), dry)
    return removed


def _nemo(out: Path, e: Erased, dry: bool) -> int:
    def line(r: Line) -> bool:
        meeting, index = str(r.get("meeting")), r.get("utterance_index")
        return (
            e.bot(meeting)
            or (isinstance(index, int) and (meeting, index) in e.utterances)
            or r.get("audio_filepath") in e.paths
            or r.get("audio_filepath") in e.media_uris
        )

    return _jsonl(out / "manifest.jsonl", line, dry)


def clean_export(fmt: str, folder: Path, erased: Erased, *, dry_run: bool = False) -> int:
    """Remove the erased entries from the export of format `fmt` in `folder`; return how
    many manifest lines and files went (would go, with `dry_run`).

    Raises FileNotFoundError if `folder` is gone, ValueError for an unknown format.
    """
    if not folder.is_dir():
        raise FileNotFoundError(str(folder))
    if fmt == "lhotse":
        return _lhotse(folder, erased, dry_run)
    if fmt == "audiofolder":
        return _audiofolder(folder, erased, dry_run)
    if fmt == "nemo":
        return _nemo(folder, erased, dry_run)
    if fmt == "rttm":
        spans = erased.turn_spans
        removed = _per_meeting(
            folder, erased, dry_run, ".rttm", lambda p: (*p[1:2], *p[3:5]) in spans
        )
        removed += _unlink((folder / f"{b}.uem" for b in sorted(erased.whole_bots)), dry_run)
        for listed in sorted(folder.glob("meetstream.*.lst")):
            removed += _rewrite(listed, lambda line: line.strip() not in erased.whole_bots, dry_run)
        return removed
    if fmt == "ctm":
        words = erased.words
        return _per_meeting(folder, erased, dry_run, ".ctm", lambda p: (*p[0:1], *p[2:5]) in words)
    raise ValueError(f"unknown export format {fmt!r}")
