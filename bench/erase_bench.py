"""How long an erasure takes on a 1,000-meeting local catalog.

Builds 1,000 meetings (four people each, per-person audio and webcam files plus the mixed
audio, speech, utterances and words) in 20 commits per table of 50 meetings, compacts them
(as nightly maintenance would, keeping the history), then times: one person in one
meeting, one person everywhere (in 100 meetings), and one whole meeting (without
MeetStream). `ERASE_BENCH_MEETINGS` changes the size.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from meetstream_catalog.catalog.erase_scope import Subject
from meetstream_catalog.catalog.maintenance import maintain
from meetstream_catalog.catalog.replace import replace_rows
from meetstream_catalog.catalog.schema import PARTITION, TABLE_SCHEMAS
from meetstream_catalog.erase import run_erasure
from meetstream_catalog.roots import Root

DAY = dt.date(2025, 3, 14)


def _rows(bot: str, n: int, media: Path) -> dict[str, list[dict[str, object]]]:
    people = [f"person {n % 10 * 4 + i}" if i else "zoe rare" if n % 10 == 0 else f"p{n}-{i}"
              for i in range(4)]  # fmt: skip
    out: dict[str, list[dict[str, object]]] = {t: [] for t in TABLE_SCHEMAS}
    base = {"bot_id": bot, PARTITION: DAY}
    out["bots"].append({**base, "outcome": "captured", "media_files": 9})
    for i, name in enumerate(people):
        for kind in ("audio", "webcam"):
            path = media / bot / kind / f"{i}.webm"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * 100)
            out["media"].append({**base, "kind": kind, "participant_name": name,
                                 "participant_key": name, "key": str(path),
                                 "storage_uri": path.as_uri(), "bytes": 100})  # fmt: skip
        out["participants"].append({**base, "participant_key": name, "match": "both"})
        out["speech"].append({**base, "turn_index": i, "participant_key": name,
                              "start_seconds": i * 10.0, "duration_seconds": 5.0})  # fmt: skip
        said = {"text": f"hello from {name}", "attribution": "track"}
        out["utterances"].append({**base, "utterance_index": i, "participant_key": name, **said})
        out["words"].append({**base, "utterance_index": i, "word_index": 0, "word": "hello",
                             "participant_key": name, "start_seconds": i * 10.0,
                             "end_seconds": i * 10.0 + 0.5})  # fmt: skip
    mixed = media / bot / "mixed.wav"
    mixed.write_bytes(b"x" * 100)
    out["media"].append({**base, "kind": "mixed_audio", "key": str(mixed),
                         "storage_uri": mixed.as_uri(), "bytes": 100})  # fmt: skip
    return out


def build(catalog: Root, media: Path, meetings: int, batch: int = 50) -> None:
    tables = ("media", "participants", "speech", "utterances", "words", "bots")
    for start in range(0, meetings, batch):
        bots = [f"bot-{n:05d}" for n in range(start, min(start + batch, meetings))]
        rows: dict[str, list[dict[str, object]]] = {t: [] for t in tables}
        for n, bot in enumerate(bots, start):
            for table, found in _rows(bot, n, media).items():
                if table in rows:
                    rows[table] += found
        for table in tables:
            data = pa.Table.from_pylist(rows[table], schema=TABLE_SCHEMAS[table])
            replace_rows(table, catalog, bots, data)
    maintain(catalog, vacuum=False)


def _time(label: str, subject: Subject, catalog: Root, media: Root) -> None:
    started = time.perf_counter()
    report = run_erasure(subject, "bench", catalog=catalog, media=media)
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.1f} s ({report.rows_removed} rows, {report.files_removed} "
          f"files, {len(report.purged_files)} old data files purged)")  # fmt: skip


def main() -> None:
    meetings = int(os.environ.get("ERASE_BENCH_MEETINGS", "1000"))
    with tempfile.TemporaryDirectory() as tmp:
        catalog, media = Root(f"{tmp}/catalog"), Root(f"{tmp}/media")
        started = time.perf_counter()
        build(catalog, Path(tmp) / "media", meetings)
        print(f"built {meetings} meetings in {time.perf_counter() - started:.0f} s")
        _time("one person, one meeting", Subject("bot-00007", "person 31"), catalog, media)
        _time("one person everywhere", Subject(participant_key="zoe rare"), catalog, media)
        _time("one meeting", Subject(bot_id="bot-00123"), catalog, media)


if __name__ == "__main__":
    main()
