"""Many writer processes, one catalog: exact rows, no lock, crash-safe, maintenance-safe.

Writers are real OS processes (`catalog_writer.py`), so they share nothing but storage:
local disk, or S3 on a moto server. That moto server serializes its request handling
(`serial_moto`): stock moto's conditional PUT (`If-None-Match`, which delta-rs uses to
commit on S3) is not atomic under threads and can lose an acknowledged commit; real S3 is
atomic.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import s3fs
from catalog_writer import media_count
from serial_moto import serial_moto

from meetstream_catalog.catalog import read_table
from meetstream_catalog.catalog.maintenance import maintain
from meetstream_catalog.catalog.schema import CAPTURE_TABLES
from meetstream_catalog.roots import Root

WRITER = str(Path(__file__).with_name("catalog_writer.py"))


def start(
    root: str, bots: Sequence[str], tag: str, endpoint: str | None = None
) -> subprocess.Popen[str]:
    extra = ["--endpoint", endpoint] if endpoint else []
    return subprocess.Popen(
        [sys.executable, WRITER, root, *bots, "--tag", tag, *extra],
        stdout=subprocess.PIPE,
        text=True,
    )


def finish(procs: Sequence[subprocess.Popen[str]]) -> None:
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out


def tables(root: str, options: dict[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    return {t: read_table(t, Root(root, options or {})) for t in CAPTURE_TABLES}


def assert_exact(found: dict[str, pd.DataFrame], bots: set[str]) -> None:
    """Every bot listed once in `bots`, with exactly its rows from ONE writer per table."""
    assert sorted(found["bots"]["bot_id"]) == sorted(bots)
    for name in ("media", "participants"):
        frame = found[name]
        assert set(frame["bot_id"]) == bots
        assert frame.groupby("bot_id").size().to_dict() == {b: media_count(b) for b in bots}
        key = "key" if name == "media" else "audio_key"
        writers = frame[key].str.split("/").str[1]
        assert (writers.groupby(frame["bot_id"]).nunique() == 1).all(), f"{name} mixes writers"


def plan(writers: int, own: int, shared: int) -> tuple[list[list[str]], set[str]]:
    common = [f"shared-{i}" for i in range(shared)]
    lists = [[f"w{w}-{i}" for i in range(own)] + common for w in range(writers)]
    for bots in lists:
        random.shuffle(bots)
    return lists, {b for bots in lists for b in bots}


def test_processes_commit_distinct_and_overlapping_bots_on_local_disk(tmp_path: Path) -> None:
    root = str(tmp_path / "catalog")
    lists, expected = plan(writers=3, own=6, shared=4)
    finish([start(root, bots, f"w{i}") for i, bots in enumerate(lists)])
    assert_exact(tables(root), expected)


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with serial_moto() as endpoint:
        yield endpoint


@pytest.fixture
def s3_root(moto: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any]]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    httpx.post(f"{moto}/moto-api/reset", timeout=10).raise_for_status()
    options: dict[str, Any] = {"client_kwargs": {"endpoint_url": moto}}
    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem(**options).mkdir("concurrency")
    return "s3://concurrency/catalog", options


def test_processes_commit_distinct_and_overlapping_bots_on_s3(
    s3_root: tuple[str, dict[str, Any]], moto: str
) -> None:
    root, options = s3_root
    lists, expected = plan(writers=3, own=4, shared=3)
    finish([start(root, bots, f"w{i}", moto) for i, bots in enumerate(lists)])
    assert_exact(tables(root, options), expected)


def test_a_writer_killed_mid_commit_leaves_whole_bots_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    root = str(tmp_path / "catalog")
    bots = [f"bot-{i:02d}" for i in range(40)]
    proc = start(root, bots, "first")
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().split()[1] for _ in range(3)]
    time.sleep(random.uniform(0.0, 0.3))  # somewhere inside a later bot's three commits
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()

    found = tables(root)  # readable
    listed = set(found["bots"]["bot_id"])
    assert set(acknowledged) <= listed  # nothing acknowledged is lost
    for name in ("media", "participants"):
        sizes = found[name].groupby("bot_id").size().to_dict()
        # bots is committed last: a listed bot has all its rows; an unlisted one may have
        # its media/participants commit(s) already, each one whole.
        assert {b: sizes[b] for b in listed} == {b: media_count(b) for b in listed}
        assert all(n == media_count(b) for b, n in sizes.items())
    assert len(listed) < len(bots), "the kill came too late to test anything"

    finish([start(root, [b for b in bots if b not in listed], "rerun")])
    assert_exact(tables(root), set(bots))


def test_maintenance_while_writers_commit_keeps_exact_rows(tmp_path: Path) -> None:
    root = str(tmp_path / "catalog")
    lists, expected = plan(writers=2, own=12, shared=4)
    procs = [start(root, bots, f"w{i}") for i, bots in enumerate(lists)]
    rounds = 0
    while any(p.poll() is None for p in procs) or rounds == 0:
        maintain(root, retention_days=7)  # compaction commits race the writers' commits
        rounds += 1
    finish(procs)
    assert_exact(tables(root), expected)
    assert rounds >= 2
