"""What a catalog commit costs as a day fills up, parallel writers, and query speed.

1. Commit cost: `write_bot` (three Delta commits) for meetings 1..N of one day on local
   disk, with the product's maintenance simulated (`maintain` without vacuum, i.e. compact
   and checkpoint, every COMPACT_EVERY meetings); median of SAMPLES commits at each mark,
   ratio against meeting 100 of the same run.
2. Parallel writers: W processes writing distinct bots into one catalog vs one process
   writing the same number of bots; throughput ratio.
3. An aggregate over `media` after maintenance vs the same rows in one Parquet file.

    .venv/bin/python -m bench.catalog_bench [--marks 100,1000,5000] [--writers 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog import dataset, write_bot
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.maintenance import maintain
from meetstream_catalog.catalog.records import BotRecord

DAY = dt.date(2025, 3, 14)
# prefect.yaml's `maintain-catalog-compact` runs every 5 minutes; assumed: 5,000 meetings a
# day in an 8-hour working day, about 50 per 5 minutes (150 per 15).
COMPACT_EVERY = 50
SAMPLES = 7
QUERY_RUNS = 21
QUICK_MARKS = "100,1000"  # 5,000 takes ~10+ minutes on 2 cores: pass --marks to include it


def write(root: str, bot_id: str, files: int = 6) -> None:
    media = [
        ArchivedMedia(
            bot_id=bot_id,
            kind="audio",
            participant_name=f"P{i}",
            key=f"{bot_id}/{i}.wav",
            storage_uri=f"s3://media/{bot_id}/{i}.wav",
            bytes=1000 + i,
            sha256=f"{i:064d}",
            duration_seconds=60.0 * i,
        )
        for i in range(files)
    ]
    people = [
        ParticipantRow(
            bot_id=bot_id, participant_key=f"p{i}", participant_name=f"P{i}", match="both"
        )
        for i in range(files)
    ]
    bot = BotRecord(bot_id=bot_id, meeting_date=DAY, platform="zoom", outcome="captured")
    write_bot(root, bot=bot, media=media, participants=people)


def bot_ids(seed: int = 9) -> Iterator[str]:
    """Random UUIDs, as MeetStream's: a day's bot ids are not in commit order."""
    rng = random.Random(seed)
    while True:
        yield str(uuid.UUID(int=rng.getrandbits(128), version=4))


def commit_curve(root: str, marks: list[int]) -> dict[int, tuple[float, float]]:
    """`{mark: (median wall seconds, median CPU seconds)}` of `write_bot` at each mark.

    CPU time (this process, delta-rs' threads included) is the cost itself; wall time also
    counts waiting for cores other processes hold.
    """
    found: dict[int, list[tuple[float, float]]] = {}
    ids = bot_ids()
    for n in range(1, max(marks) + SAMPLES + 1):
        started, cpu = time.perf_counter(), time.process_time()
        write(root, next(ids))
        elapsed = (time.perf_counter() - started, time.process_time() - cpu)
        for mark in marks:
            if mark <= n < mark + SAMPLES:
                found.setdefault(mark, []).append(elapsed)
        if n % COMPACT_EVERY == 0:
            maintain(root, vacuum=False)
    return {
        m: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for m, v in found.items()
    }


def _writer(args: tuple[str, str, int]) -> None:
    root, prefix, count = args
    for i in range(count):
        write(root, f"{prefix}-{i}")


def throughput(writers: int, per_writer: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as many:
        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as pool:
            pool.map(_writer, [(one, "warm", 1)])
            started = time.perf_counter()
            pool.map(_writer, [(one, "solo", writers * per_writer)])
            solo = writers * per_writer / (time.perf_counter() - started)
        with ctx.Pool(writers) as pool:
            pool.map(_writer, [(many, f"warm{w}", 1) for w in range(writers)])
            started = time.perf_counter()
            pool.map(_writer, [(many, f"w{w}", per_writer) for w in range(writers)])
            parallel = writers * per_writer / (time.perf_counter() - started)
    return solo, parallel


def query_ratio(root: str) -> tuple[float, float]:
    maintain(root, vacuum=False)
    sql = "select bot_id, sum(duration_seconds), count(*) from media group by 1"
    plain = Path(root) / "plain.parquet"
    pq.write_table(dataset("media", root).to_table(), plain)

    delta, single = duckdb.connect(), duckdb.connect()
    delta.register("media", dataset("media", root))
    single.read_parquet(str(plain)).create_view("media")
    runs: dict[str, list[float]] = {"delta": [], "single": []}
    # Alternate the two so that load from other processes falls on both alike.
    for _ in range(QUERY_RUNS):
        for setup, con in (("delta", delta), ("single", single)):
            started = time.perf_counter()
            con.execute(sql).fetchall()
            runs[setup].append(time.perf_counter() - started)
    return statistics.median(runs["delta"]), statistics.median(runs["single"])


def main(argv: list[str] | None = None) -> None:
    """Run all three measurements (`python -m bench` passes no arguments: quick marks)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--marks", default=QUICK_MARKS)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--per-writer", type=int, default=25)
    args = parser.parse_args([]) if __name__ != "__main__" else parser.parse_args()
    marks = [int(m) for m in args.marks.split(",")]
    with tempfile.TemporaryDirectory() as root:
        curve = commit_curve(root, marks)
        wall0, cpu0 = curve[marks[0]]
        print(f"commit cost (write_bot = 3 commits), maintenance every {COMPACT_EVERY}:")
        for mark, (wall, cpu) in sorted(curve.items()):
            print(
                f"  meeting {mark:>5}: wall {wall * 1000:7.1f} ms ({wall / wall0:.2f}x), "
                f"cpu {cpu * 1000:7.1f} ms ({cpu / cpu0:.2f}x)"
            )
        delta, plain = query_ratio(root)
        print(
            f"aggregate over media ({max(marks) + SAMPLES} meetings) after maintenance: "
            f"delta {delta * 1000:.1f} ms, one parquet file {plain * 1000:.1f} ms "
            f"({delta / plain:.2f}x)"
        )
    solo, parallel = throughput(args.writers, args.per_writer)
    print(
        f"throughput: 1 writer {solo:.1f} meetings/s, {args.writers} writers "
        f"{parallel:.1f} meetings/s ({parallel / solo:.2f}x)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
