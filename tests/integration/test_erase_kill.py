"""Kill anywhere, for erasure: SIGKILL the real `meetstream-catalog erase` at many instants,
run the identical command again, and the erasure ends complete: no row of the subject in
any table, no file without its row nor row without its file, no data file of the history
holding the subject, one erasure `done` and none left unfinished.

The instants: right after each step line the command prints (the `started` row, each
table's delete, the `bots` rewrite, the files, MeetStream, the history purge), each also a
few milliseconds later (inside the next step), and one before any output. Meanwhile another
meeting's capture commits in a thread of the test and must succeed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from meetstream_catalog.catalog import read_table
from meetstream_catalog.catalog.audit import erasure_events, latest_by_erasure
from meetstream_catalog.roots import Root
from tests.integration.erase_catalog import build, write_meeting
from tests.integration.test_erase import subject_rows_in_storage

CLI = str(Path(sys.executable).parent / "meetstream-catalog")
PARTICIPANT = ["--participant", "Ann Lee", "--bot", "bot-a"]
BOT = ["--bot", "bot-a", "--skip-meetstream"]


def _command(home: Path, subject: list[str]) -> list[str]:
    roots = ["--catalog-root", str(home / "catalog"), "--media-root", str(home / "media")]
    return [CLI, "erase", *subject, "--yes", "--reason", "kill-test", *roots]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEETSTREAM_", "AWS_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _kill_after(command: list[str], lines: int, delay: float) -> list[str]:
    """Run `command`, SIGKILL it `delay` s after its `lines`-th line; return what it said."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=_env())
    seen: list[str] = []
    assert proc.stdout is not None
    while len(seen) < lines:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    return seen


def _assert_complete(home: Path, subject: list[str]) -> None:
    catalog = Root(str(home / "catalog"))
    whole_bot = "--participant" not in subject
    media = read_table("media", catalog)
    for name in ("bots", "participants", "media", "speech", "utterances", "words"):
        rows = read_table(name, catalog)
        mine = rows.bot_id == "bot-a"
        if not whole_bot and name != "bots":
            mine &= rows.participant_key == "ann lee"
        assert not (mine.sum() if whole_bot or name != "bots" else 0), name
    if not whole_bot:
        bot = read_table("bots", catalog).set_index("bot_id").loc["bot-a"]
        assert list(bot.missing_files) == []
        assert bot.media_files == len(media[media.bot_id == "bot-a"])
    # no file without a row, no row without a file
    files = {p.as_uri() for p in (home / "media").rglob("*") if p.is_file()}
    assert files == set(media.storage_uri)
    key = None if whole_bot else "ann lee"
    assert subject_rows_in_storage(home / "catalog", "bot-a", key) == []
    latest = latest_by_erasure(erasure_events(catalog))
    assert {e.state for e in latest.values()} == {"done"}  # none left unfinished


INSTANTS = [(PARTICIPANT, n, d) for n in (0, 1, 2, 4, 6, 7, 8, 9) for d in (0.0, 0.02)]
INSTANTS += [(BOT, n, 0.0) for n in (1, 3, 8, 9)]
IDS = [f"{'bot' if s is BOT else 'participant'}-line{n}+{d * 1000:.0f}ms" for s, n, d in INSTANTS]


@pytest.mark.parametrize(("subject", "lines", "delay"), INSTANTS, ids=IDS)
def test_an_erasure_killed_anywhere_completes_when_run_again(
    tmp_path: Path, subject: list[str], lines: int, delay: float
) -> None:
    build(Root(str(tmp_path / "catalog")), Root(str(tmp_path / "media")))
    said = _kill_after(_command(tmp_path, subject), lines, delay)
    left = latest_by_erasure(erasure_events(Root(str(tmp_path / "catalog"))))
    unfinished = [e.erasure_id for e in left.values() if e.state != "done"]
    again = subprocess.run(_command(tmp_path, subject), capture_output=True, text=True, env=_env())
    assert again.returncode == 0, (said, again.stdout, again.stderr)
    if unfinished:  # the killed run's erasure is the one completed
        assert again.stdout.splitlines()[0] == f"erasure {unfinished[0]} resumed"
    _assert_complete(tmp_path, subject)


def test_a_capture_of_another_meeting_commits_while_an_erasure_runs(tmp_path: Path) -> None:
    catalog, media = Root(str(tmp_path / "catalog")), Root(str(tmp_path / "media"))
    build(catalog, media)
    failures: list[BaseException] = []
    done = threading.Event()

    def capture() -> None:
        try:
            while not done.is_set():
                write_meeting(catalog, media, "bot-c")
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    writer = threading.Thread(target=capture)
    writer.start()
    try:
        result = subprocess.run(
            _command(tmp_path, PARTICIPANT), capture_output=True, text=True, env=_env()
        )
    finally:
        done.set()
        writer.join()
    assert result.returncode == 0, result.stderr
    assert failures == []
    rows = read_table("participants", catalog)
    assert (rows.bot_id == "bot-c").sum() == 2
    assert ((rows.bot_id == "bot-a") & (rows.participant_key == "ann lee")).sum() == 0
