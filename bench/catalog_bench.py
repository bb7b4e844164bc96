"""What a catalog commit costs as a day fills up, parallel writers, and query speed.

1. Commit cost: `write_bot` (three Delta commits) for meetings 1..N of one day, on local
   disk and on S3 (a serial moto server on 127.0.0.1, as the integration tests use), with
   the product's maintenance simulated (`maintain` without vacuum, i.e. compact, checkpoint
   and clean expired log entries, every COMPACT_EVERY meetings); median of SAMPLES commits
   at each mark, ratio against meeting 100 of the same curve. Two writers side by side in
   the same run: the product, and the baseline, which is the product with delta-rs' default
   post-commit hooks (what it ran before `HOOKS`); the baseline only up to BASELINE_UP_TO.
   On S3 the figure is the writer's CPU time (moto itself lists every key, real S3 answers
   a `start-after` listing from an index).
2. Parallel writers: W processes writing distinct bots into one catalog vs one process
   writing the same number of bots; throughput ratio.
3. An aggregate over `media` after maintenance vs the same rows in one Parquet file.

    .venv/bin/python -m bench.catalog_bench [--marks 100,1000,5000] [--stores local,s3]

The last line reads `RESULT commit cost <last>/<first>: <x>x local, <y>x s3`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import multiprocessing as mp
import os
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
import s3fs
from deltalake import PostCommitHookProperties

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog import dataset, replace, write_bot
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.maintenance import maintain
from meetstream_catalog.catalog.properties import HOOKS
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.roots import Root

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration"))
from serial_moto import serial_moto  # the integration tests' own S3 server

DAY = dt.date(2025, 3, 14)
# prefect.yaml's `maintain-catalog-compact` runs every 5 minutes; assumed: 5,000 meetings a
# day in an 8-hour working day, about 50 per 5 minutes (150 per 15).
COMPACT_EVERY = 50
SAMPLES = 7
QUERY_RUNS = 21
QUICK_MARKS = "100,1000"  # 5,000 takes ~30 minutes on 2 cores: pass --marks to include it
# The baseline's commits cost up to ~10x more by meeting 1,000; past it, it takes too long.
BASELINE_UP_TO = 1000
WRITERS = {"product": HOOKS, "baseline": PostCommitHookProperties()}


def write(root: Root | str, bot_id: str, files: int = 6) -> None:
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


Curve = dict[int, tuple[float, float]]


def commit_curve(root: Root, marks: list[int], writer: str) -> Curve:
    """`{mark: (median wall seconds, median CPU seconds)}` of `write_bot` at each mark.

    CPU time (this process, delta-rs' threads included) is the cost itself; wall time also
    counts waiting for cores other processes (and, on S3, the moto server) hold.
    """
    replace.HOOKS = WRITERS[writer]
    found: dict[int, list[tuple[float, float]]] = {}
    ids = bot_ids()
    try:
        for n in range(1, max(marks) + SAMPLES + 1):
            started, cpu = time.perf_counter(), time.process_time()
            write(root, next(ids))
            elapsed = (time.perf_counter() - started, time.process_time() - cpu)
            for mark in marks:
                if mark <= n < mark + SAMPLES:
                    found.setdefault(mark, []).append(elapsed)
            if n % COMPACT_EVERY == 0:
                maintain(root, vacuum=False)
    finally:
        replace.HOOKS = HOOKS
    return {
        m: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for m, v in found.items()
    }


@contextlib.contextmanager
def s3_root() -> Iterator[Root]:
    """A fresh bucket on a serial moto server of its own (stopped by PID on exit)."""
    with serial_moto() as endpoint:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        root = Root.at("s3://catalog-bench/catalog", s3_endpoint_url=endpoint)
        s3fs.S3FileSystem(**root.options).mkdir("catalog-bench")
        yield root


def curves(marks: list[int], stores: list[str]) -> dict[str, float]:
    """Product and baseline curves on each store, in this one run, each printed as soon as
    it is measured; returns the product's last/first CPU ratio per store."""
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as warm:  # imports and first-use costs, unmeasured
        write(warm, "warm-up")
    for store in stores:
        for writer in WRITERS:
            upto = [m for m in marks if writer == "product" or m <= BASELINE_UP_TO]
            with contextlib.ExitStack() as stack:
                if store == "s3":
                    root = stack.enter_context(s3_root())
                else:
                    root = Root.at(stack.enter_context(tempfile.TemporaryDirectory()))
                ratio = report(store, writer, commit_curve(root, upto, writer))
            if writer == "product":
                ratios[store] = ratio
    return ratios


def report(store: str, writer: str, curve: Curve) -> float:
    """Print one curve; return its last/first CPU ratio."""
    first = min(curve)
    wall0, cpu0 = curve[first]
    for mark, (wall, cpu) in sorted(curve.items()):
        print(
            f"commit cost, {store:5} {writer:8} meeting {mark:>5}: wall {wall * 1000:7.1f} ms "
            f"({wall / wall0:.2f}x), cpu {cpu * 1000:7.1f} ms ({cpu / cpu0:.2f}x)",
            flush=True,
        )
    return curve[max(curve)][1] / cpu0


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
    parser.add_argument("--stores", default="local,s3", help="local, s3 or both")
    args = parser.parse_args([] if argv is None else argv)
    marks = sorted(int(m) for m in args.marks.split(","))
    stores = args.stores.split(",")
    print(f"commit cost: write_bot = 3 commits, maintenance every {COMPACT_EVERY} meetings")
    ratios = curves(marks, stores)
    with tempfile.TemporaryDirectory() as root:
        for bot_id in itertools.islice(bot_ids(), marks[0]):
            write(root, bot_id)
        delta, plain = query_ratio(root)
        print(
            f"aggregate over media ({marks[0]} meetings) after maintenance: "
            f"delta {delta * 1000:.1f} ms, one parquet file {plain * 1000:.1f} ms "
            f"({delta / plain:.2f}x)"
        )
    solo, parallel = throughput(args.writers, args.per_writer)
    print(
        f"throughput: 1 writer {solo:.1f} meetings/s, {args.writers} writers "
        f"{parallel:.1f} meetings/s ({parallel / solo:.2f}x)"
    )
    ratio = ", ".join(f"{ratios[store]:.2f}x {store}" for store in stores)
    print(f"RESULT commit cost {marks[-1]}/{marks[0]}: {ratio}")


if __name__ == "__main__":
    main(sys.argv[1:])
