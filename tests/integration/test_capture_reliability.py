"""A capture survives outages, crashes and failed files (the simulator over a real socket).

- a 10-minute outage (meeting clock; 10 s at 60x) of `status` during the wait, or of
  `get_recording_streams` while collecting, is ridden out by the one retry policy;
- one file that fails for good leaves a `partial` bot with the others catalogued, and a
  later collect completes it;
- SIGKILL of `meetstream-catalog capture` while waiting or while archiving, followed by
  the plain re-run of the same command: one bot, exact rows, no temporary files left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from flows.capture import capture_meeting
from flows.collect import collect_bot
from meetstream_catalog import catalog
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.simulator.scenario import load_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

CLI = str(Path(sys.executable).parent / "meetstream-catalog")
SHORT = "https://zoom.us/j/5550004444"  # 2 meeting-minutes: 2 s at 60x
LONG = "https://zoom.us/j/5550005555"  # 10 meeting-minutes: 10 s at 60x


@pytest.fixture(scope="module")
def simulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    people = [
        {"name": "Ana Souza", "speech": [[0, 40]], "camera": [[0, 100]]},
        {"name": "Ben Carter", "speech": [[40, 90]], "camera": [[10, 60], [70, 110]]},
        {"name": "Chen Wei", "speech": [[90, 120]]},
    ]
    short = {"duration": 120, "join_delay": 2, "participants": people,
             "processing": {"audio_delay": 5, "video_delay": 10}}  # fmt: skip
    scenario = {"meetings": {SHORT: short, LONG: {**short, "duration": 600}}}
    path = tmp_path_factory.mktemp("reliability") / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    with serve_in_thread(SimulatorConfig(scenario=load_scenario(path), speed=60)) as url:
        yield url


@pytest.fixture
def api(simulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MEETSTREAM_API_URL", simulator_url)
    monkeypatch.setenv("MEETSTREAM_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("MEETSTREAM_MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setenv("MEETSTREAM_CATALOG_ROOT", str(tmp_path / "catalog"))
    monkeypatch.setenv("MEETSTREAM_POLL_INTERVAL_SECONDS", "0.2")
    monkeypatch.setenv("MEETSTREAM_POLL_MAX_INTERVAL_SECONDS", "1")
    yield simulator_url
    httpx.delete(_admin(simulator_url, "faults"))


def _admin(api_url: str, path: str) -> str:
    return api_url.removesuffix("/api/v1") + f"/_simulator/{path}"


def _fault(api_url: str, **rule: Any) -> None:
    httpx.post(_admin(api_url, "faults"), json=rule).raise_for_status()


def _bots_for(api_url: str, link: str) -> list[dict[str, Any]]:
    bots: list[dict[str, Any]] = httpx.get(_admin(api_url, "bots")).json()["bots"]
    return [b for b in bots if b["meeting_url"] == link]


def _table(tmp_path: Path, name: str) -> Any:
    return catalog.read_table(name, str(tmp_path / "catalog"))


def _leftovers(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "media").rglob("*") if p.name.endswith((".part", ".tmp"))]


pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.mark.parametrize("endpoint", ["status", "get_recording_streams"])
async def test_a_ten_minute_outage_is_ridden_out(api: str, tmp_path: Path, endpoint: str) -> None:
    # 600 meeting-clock seconds from the first failed call: 10 s of 503s at 60x.
    _fault(api, endpoint=endpoint, status=503, count=None, for_seconds=600)
    request = MeetingRequest(meeting_link=SHORT, request_id=f"outage-{endpoint}")

    result = await capture_meeting(request)

    assert result.outcome is Outcome.CAPTURED
    assert httpx.get(_admin(api, "faults")).json()["faults"] == []  # the outage happened, ended
    assert _table(tmp_path, "bots")["outcome"].tolist() == ["captured"]


async def test_one_file_failing_for_good_leaves_a_partial_bot_that_collect_completes(
    api: str, tmp_path: Path
) -> None:
    _fault(api, endpoint="media", status=404, count=1)  # one file is gone at first
    state = await capture_meeting(
        MeetingRequest(meeting_link=SHORT, request_id="partial"), return_state=True
    )
    first = await state.result()

    # A Prefect automation tells it from success by the state's name.
    assert (state.type.value, state.name) == ("COMPLETED", "Partial")
    assert first.outcome is Outcome.PARTIAL
    assert first.missing_files == 1
    assert first.bot_id is not None
    bots = _table(tmp_path, "bots")
    assert bots["outcome"].tolist() == ["partial"]
    reason = bots["reason"].iloc[0]
    assert reason.startswith("1 of ")
    assert f"meetstream-catalog collect {first.bot_id}" in reason
    [missing] = bots["missing_files"].iloc[0]  # each file once, with why
    assert missing in reason
    assert missing.count(" of ") == 1  # "audio of 'Ana Souza' (...)": named once
    assert "answers 404" in missing
    partial_media = _table(tmp_path, "media")
    assert len(partial_media) == first.media_files

    second = await collect_bot(first.bot_id)

    assert second.outcome is Outcome.CAPTURED
    media = _table(tmp_path, "media")
    assert len(media) == len(partial_media) + 1
    assert media["key"].is_unique
    assert _table(tmp_path, "bots")["outcome"].tolist() == ["captured"]
    assert _table(tmp_path, "bots")["missing_files"].tolist() == [None]


def test_a_meeting_of_which_nothing_was_archived_fails_with_exit_1_and_one_line(
    simulator_url: str, tmp_path: Path
) -> None:
    _fault(simulator_url, endpoint="media", status=403, count=None)  # every URL, for good
    try:
        done = subprocess.run(
            [CLI, "capture", SHORT, "--request-id", "nothing-archived"],
            env=_cli_env(simulator_url, tmp_path),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        httpx.delete(_admin(simulator_url, "faults"))

    assert done.returncode == 1, done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert "media files not archived" in line
    assert "meetstream-catalog collect" in line
    assert "Traceback" not in done.stderr
    bots = _table(tmp_path, "bots")
    assert bots["outcome"].tolist() == ["failed"]
    assert bots["media_files"].tolist() == [0]
    missing = list(bots["missing_files"].iloc[0])
    assert len(missing) > 1
    assert len(set(missing)) == len(missing)  # each file once
    assert all(m.count("(segment ") == 1 for m in missing)


def _cli_env(api_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEETSTREAM_", "AWS_"))}
    env.pop("PREFECT_API_URL", None)
    env.update(
        MEETSTREAM_API_URL=api_url,
        MEETSTREAM_API_KEY=DEMO_API_KEY,
        MEETSTREAM_MEDIA_ROOT=str(tmp_path / "media"),
        MEETSTREAM_CATALOG_ROOT=str(tmp_path / "catalog"),
        MEETSTREAM_POLL_INTERVAL_SECONDS="0.2",
        MEETSTREAM_POLL_MAX_INTERVAL_SECONDS="1",
    )
    return env


def _bot_recorded(tmp_path: Path) -> bool:
    if not (tmp_path / "catalog" / "bots" / "_delta_log").exists():
        return False
    return not _table(tmp_path, "bots").empty


def _until(check: Any, what: str, within: float = 240) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.parametrize("moment", ["while waiting", "while archiving"])
def test_a_killed_capture_rerun_resumes_its_bot_with_exact_rows(
    simulator_url: str, tmp_path: Path, moment: str
) -> None:
    env = _cli_env(simulator_url, tmp_path)
    link = LONG if moment == "while waiting" else SHORT
    if moment == "while archiving":  # slow downloads, so the kill lands mid-copy
        _fault(simulator_url, endpoint="media", delay=1.5, count=None)
    before = len(_bots_for(simulator_url, link))
    killed = subprocess.Popen(  # its own process group: see the `finally` below
        [CLI, "capture", link],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        if moment == "while waiting":
            _until(lambda: len(_bots_for(simulator_url, link)) > before, "the bot")
            # Every table exists from the intent on (before the create call): wait for the
            # bot's row, so the kill lands while waiting, not while creating.
            _until(lambda: _bot_recorded(tmp_path), "the in-progress row")
        else:
            _until(lambda: list((tmp_path / "media").rglob("*.part")), "a copy in progress")
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        # A killed CLI cannot stop the temporary Prefect server it started (a child in its
        # group): reap it, or every run of this test leaves one serving for ever.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(killed.pid, signal.SIGKILL)
        httpx.delete(_admin(simulator_url, "faults"))

    rerun = subprocess.run(
        [CLI, "capture", link], env=env, capture_output=True, text=True, timeout=300, check=False
    )

    assert rerun.returncode == 0, rerun.stderr
    assert "resuming it instead of sending a second bot" in rerun.stderr
    assert len(_bots_for(simulator_url, link)) == before + 1  # one bot, not two
    bots = _table(tmp_path, "bots")
    assert bots["outcome"].tolist() == ["captured"]
    media = _table(tmp_path, "media")
    assert media["key"].is_unique
    assert len(media) == bots["media_files"].iloc[0]
    stored = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert len(stored) == len(media)
    assert _leftovers(tmp_path) == []


async def test_collect_pending_re_sends_an_unanswered_intent_with_its_key(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture died with its create call's answer unrecorded (as the kill-anywhere test
    leaves it): the scheduled collect-pending asks MeetStream again with the same key."""
    import datetime as dt

    from flows.collect import collect_pending
    from meetstream_catalog.catalog import intents, pending
    from meetstream_catalog.roots import Root

    monkeypatch.setenv("MEETSTREAM_OUTAGE_TOLERANCE_SECONDS", "1")  # its retries are over
    root = Root(str(tmp_path / "catalog"))
    now = dt.datetime.now(dt.UTC)
    request = MeetingRequest(meeting_link=SHORT, custom_attributes={"team": "qa"})
    lost = intents.Intent.of(request, key="lost-answer-key", run_id=None,
                             expires_at=now + dt.timedelta(hours=1),
                             written_at=now - dt.timedelta(minutes=5))  # fmt: skip
    intents.record(root, [lost])
    # MeetStream created the bot; its answer never arrived.
    created = httpx.post(
        f"{api}/bots/create_bot",
        headers={"Authorization": f"Token {DEMO_API_KEY}", "Idempotency-Key": lost.key},
        json={"meeting_link": SHORT, "bot_name": request.bot_name,
              "audio_separate_streams": True, "video_separate_streams": True},
    ).json()  # fmt: skip
    before = len(_bots_for(api, SHORT))
    await asyncio.sleep(4)  # the 2-meeting-minute meeting ends (60x)

    await collect_pending()

    assert len(_bots_for(api, SHORT)) == before  # the same bot, not a second one
    bots = _table(tmp_path, "bots")
    assert bots["bot_id"].tolist() == [created["bot_id"]]
    assert bots["request_id"].tolist() == [lost.key]
    assert bots["outcome"].tolist() == ["captured"]  # it had left: collected at once
    assert pending.unresolved(root) == []
