"""Export of demo-sized meetings to lhotse, audiofolder and rttm: wall time and peak memory.

A synthetic catalog of N meetings (default 100 and 1,000) is built in a temporary
directory: demo-like rows (Zoom, Google Meet with two namesakes, Teams without
per-speaker audio; four participants, 20 speech turns, webcam rows, a mixed WAV and a
composite video per meeting) written with the catalog's own table builders and tiny media
files, then compacted as the maintenance flow would. The first meeting goes through
`write_bot` (it creates the tables with their properties); the rest are appended in bulk
with the same builders, because 4,000 single commits would time the catalog, not the
export.

Each measurement runs in a fresh child process, which reports its own wall time (after
imports) and peak RSS (`ru_maxrss`). The catalog is built in another child, so the parent
stays small: Linux carries the spawning process's RSS high-water mark into a child's
`ru_maxrss`, which otherwise reports the builder's peak, not the export's. Baselines,
measured in the same run and in the same kind of child:
- `import`: the child imports the export modules and stops (the memory floor);
- `scan`: a plain DuckDB scan of the same rows (bots, the exported media, speech) as
  Arrow batches: the least an export must read;
- `copy`: `shutil.copyfile` of the same per-speaker files: the least audiofolder must copy.

    nice -n 10 .venv/bin/python -m bench.export_bench [--sizes 100,1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PLATFORMS = ("zoom", "google_meet", "zoom", "teams", "zoom")
PEOPLE = ("Priya Raman", "Marco Rossi", "Alex Kim", "Jordan Lee")
TURNS = 20
MEETING_SECONDS = 900.0
AUDIO_BYTES = 2048  # tiny per-speaker "webm"
FIRST_DAY = dt.date(2026, 3, 2)


def _wav(samples: int, rate: int = 8000) -> bytes:
    header = (
        b"RIFF" + (36 + samples).to_bytes(4, "little") + b"WAVEfmt "
        + (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
        + rate.to_bytes(4, "little") + rate.to_bytes(4, "little") + (1).to_bytes(2, "little")
        + (8).to_bytes(2, "little") + b"data" + samples.to_bytes(4, "little")
    )  # fmt: skip
    return header + bytes([128]) * samples


def _meeting(i: int, media_root: Path, rng: random.Random) -> dict[str, Any]:
    """One demo-like meeting's rows (pydantic models) and its tiny files on disk."""
    from meetstream_catalog.archive.files import ArchivedMedia
    from meetstream_catalog.catalog.join import ParticipantRow
    from meetstream_catalog.catalog.names import normalize_name
    from meetstream_catalog.catalog.records import bot_record
    from meetstream_catalog.catalog.speech import SpeechRow

    bot = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    platform = PLATFORMS[i % len(PLATFORMS)]
    names = list(PEOPLE) if platform != "google_meet" else ["Alex Kim", "Alex Kim", *PEOPLE[:2]]
    devices = [f"devices/{100 + n}" for n in range(len(names))]
    streams = [f"{n.replace(' ', '')}_{bot[:6]}{k}" for k, n in enumerate(names)]
    media: list[ArchivedMedia] = []

    def add(kind: str, key: str, data: bytes | None, **fields: Any) -> None:
        size, digest = len(data or b""), f"{i:064x}"
        if data is not None:
            path = media_root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        media.append(
            ArchivedMedia(bot_id=bot, kind=kind, key=key, storage_uri=f"file://{media_root / key}",
                          bytes=size or 1_000_000, sha256=digest, **fields)  # type: ignore[arg-type]
        )  # fmt: skip

    speakers = range(3)  # the fourth person is silent
    if platform != "teams":
        for k in speakers:
            add("audio", f"{bot}/audio/{k}/0.webm", rng.randbytes(AUDIO_BYTES),
                participant_name=names[k], stream_id=streams[k], segment_index=0,
                codec="opus", sample_rate=48000, channels=1,
                duration_seconds=MEETING_SECONDS / 3)  # fmt: skip
    for k in range(3):
        add("webcam", f"{bot}/webcam/{k}/0.webm", None, participant_name=names[k],
            stream_id=streams[k], segment_index=0, duration_seconds=MEETING_SECONDS)  # fmt: skip
    add("mixed_audio", f"{bot}/mixed/audio.wav", _wav(1024), codec="pcm")
    add("composite_video", f"{bot}/composite/video.mp4", None, duration_seconds=MEETING_SECONDS)
    step = MEETING_SECONDS / TURNS
    turns = [
        SpeechRow(
            bot_id=bot, turn_index=t, participant_name=names[t % 3],
            participant_key=normalize_name(names[t % 3]), device_id=devices[t % 3],
            audio_stream_id=streams[t % 3] if platform != "teams" else None,
            start_seconds=t * step, end_seconds=(t + 1) * step, duration_seconds=step,
            started_at=None, chunks=3,
        )
        for t in range(TURNS)
    ]  # fmt: skip
    people = [
        ParticipantRow(bot_id=bot, participant_key=normalize_name(n), participant_name=n,
                       match="both" if k < 3 else "no_media", device_id=devices[k])
        for k, n in enumerate(names)
    ]  # fmt: skip
    day = FIRST_DAY + dt.timedelta(days=i % 20)
    record = bot_record(
        bot_id=bot, platform=platform, outcome="captured", media=media, participants=people,
        meeting_link=f"https://zoom.us/j/{9_000_000_000 + i}", speaker_timeline="available",
        speech_turns=TURNS, created_at=dt.datetime.combine(day, dt.time(9), dt.UTC),
    )  # fmt: skip
    return {"bot": record, "media": media, "participants": people, "speech": turns}


def build(n: int, base: Path) -> tuple[str, Path]:
    """A compacted catalog of `n` meetings and their media; returns (catalog root, file list)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from meetstream_catalog.catalog import TABLE_PROPERTIES, write_bot
    from meetstream_catalog.catalog.arrow_tables import (
        bots_table,
        media_table,
        participants_table,
        speech_table,
    )
    from meetstream_catalog.catalog.maintenance import maintain
    from meetstream_catalog.catalog.schema import PARTITION

    root, media_root = base / "catalog", base / "media"
    rng = random.Random(n)
    first = _meeting(0, media_root, rng)
    write_bot(str(root), **first)
    batch: dict[str, list[pa.Table]] = {"bots": [], "media": [], "participants": [], "speech": []}

    def flush() -> None:
        for name, tables in batch.items():
            if tables:
                data = pa.concat_tables(tables)
                write_deltalake(
                    str(root / name),
                    data,
                    mode="append",
                    partition_by=[PARTITION],
                    configuration=TABLE_PROPERTIES,
                )
                tables.clear()

    for i in range(1, n):
        m = _meeting(i, media_root, rng)
        day = m["bot"].meeting_date
        batch["bots"].append(bots_table(m["bot"]))
        batch["media"].append(media_table(m["media"], day))
        batch["participants"].append(participants_table(m["participants"], day))
        batch["speech"].append(speech_table(m["speech"], day))
        if i % 250 == 0:
            flush()
    flush()
    maintain(str(root), vacuum=False)
    files = base / "audio-files.txt"
    files.write_text("\n".join(str(p) for p in sorted(media_root.glob("*/audio/*/*.webm"))))
    return str(root), files


# --- the child side ---------------------------------------------------------------------


def _child(kind: str, root: str, out: str, files: str) -> dict[str, float]:
    from meetstream_catalog.catalog.query import connect
    from meetstream_catalog.export.writers import export

    started = time.perf_counter()
    if kind in ("lhotse", "audiofolder", "rttm"):
        export(kind, out, root)  # type: ignore[arg-type]
    elif kind == "scan":
        con = connect(root)
        exported = "select * from media where kind <> 'webcam' and kind <> 'screenshare'"
        for sql in ("select * from bots", exported, "select * from speech"):
            for _ in con.sql(sql).to_arrow_reader(4096):
                pass
    elif kind == "copy":
        target = Path(out)
        target.mkdir(parents=True, exist_ok=True)
        for n, src in enumerate(Path(files).read_text().splitlines()):
            shutil.copyfile(src, target / f"{n}.webm")
    wall = time.perf_counter() - started
    return {"wall": wall, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(kind: str, root: str, files: Path, work: Path) -> dict[str, float]:
    out = work / f"out-{kind}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "bench.export_bench", "--child", kind, root, str(out), str(files)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _build_in_child(n: int, base: Path) -> tuple[str, Path]:
    """Build in a child so this process stays small: a child's `ru_maxrss` starts from the
    RSS of the process that spawned it (Linux keeps the high-water mark across exec)."""
    cmd = [sys.executable, "-m", "bench.export_bench", "--build", str(n), str(base)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    root, files = json.loads(done.stdout.strip().splitlines()[-1])
    return root, Path(files)


KINDS = ("import", "scan", "copy", "lhotse", "audiofolder", "rttm")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "ROOT", "OUT", "FILES"))
    parser.add_argument("--build", nargs=2, metavar=("N", "DIR"))
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(*args.child)))
        return
    if args.build:
        root, files = build(int(args.build[0]), Path(args.build[1]))
        print(json.dumps([root, str(files)]))
        return
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
            started = time.perf_counter()
            root, files = _build_in_child(n, Path(tmp))
            print(f"\n{n} meetings: catalog built in {time.perf_counter() - started:.1f} s")
            runs = {
                k: [measure(k, root, files, Path(tmp)) for _ in range(args.runs)] for k in KINDS
            }
        wall = {k: statistics.median(r["wall"] for r in v) for k, v in runs.items()}
        rss = {k: max(r["rss_mb"] for r in v) for k, v in runs.items()}
        print(f"{'':12} {'wall s':>8} {'x scan':>7} {'x copy':>7} {'peak MB':>8} {'x import':>9}")
        for k in KINDS:
            print(
                f"{k:12} {wall[k]:8.2f} {wall[k] / wall['scan']:7.2f} "
                f"{wall[k] / wall['copy']:7.2f} {rss[k]:8.0f} {rss[k] / rss['import']:9.2f}"
            )


if __name__ == "__main__":
    main()
