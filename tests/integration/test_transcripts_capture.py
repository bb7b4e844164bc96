"""Transcripts through the capture's own steps and the `transcribe` command, against the
simulator over a real socket: catalogued when ready, recorded (never a failed capture)
when failed, unknown or still 202 at the deadline."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.dataset as ds
import pytest

from meetstream_catalog import capture, catalog, catalogue
from meetstream_catalog.job import CaptureJob
from meetstream_catalog.meetstream.http import open_clients
from meetstream_catalog.request import MeetingRequest, idempotency_key
from meetstream_catalog.settings import Settings
from meetstream_catalog.simulator.scenario import load_scenario, parse_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

DEMO = Path(__file__).parents[2] / "meetstream_catalog" / "simulator" / "scenarios" / "demo.yaml"
TEAMS = "https://teams.microsoft.com/l/meetup-join/demo-teams-meeting"
MEET = "https://meet.google.com/abc-defg-hij"
FAILS = "https://zoom.us/j/2000000001"
STUCK = "https://zoom.us/j/2000000002"
SCRIPT = {"duration": 120, "processing": {"audio_delay": 10, "video_delay": 20},
          "participants": [{"name": "Ann", "speech": [[0, 60]], "camera": [[0, 120]]},
                           {"name": "Bo", "speech": [[60, 120]]}]}  # fmt: skip


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    scenario = load_scenario(DEMO)
    extra = {FAILS: {**SCRIPT, "transcript": {"outcome": "failed"}},
             STUCK: {**SCRIPT, "transcript": {"outcome": "stuck"}}}  # fmt: skip
    scenario.meetings.update(parse_scenario({"meetings": extra}).meetings)
    with serve_in_thread(SimulatorConfig(scenario=scenario, speed=3000)) as url:
        yield url


def _settings(url: str, tmp_path: Path, **more: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": DEMO_API_KEY,
        "api_url": url,
        "media_root": str(tmp_path / "media"),
        "catalog_root": str(tmp_path / "catalog"),
        "poll_interval_seconds": 0.05,
        "poll_max_interval_seconds": 0.2,
        "transcript_provider": "deepgram",
    }
    return Settings(**(values | more))


async def _capture(settings: Settings, link: str) -> dict[str, Any]:
    request = MeetingRequest(meeting_link=link, bot_name="Recorder")
    job = CaptureJob.for_request(
        request,
        key=idempotency_key(request, run_scope=str(uuid.uuid4())),  # a new bot each time
        settings=settings,
        media_root=settings.media(),
        catalog_root=settings.catalog(),
    )
    async with open_clients(settings) as clients:
        created = await capture.create_bot(clients.api, job)
        left = await capture.wait_until_left(clients.api, job, created.bot_id, False)
        archived = await capture.collect(
            clients, job, created.bot_id, left.state, transcript_id=left.transcript_id
        )
    result = catalogue.catalogue(job, created.bot_id, left, archived)
    bots = catalog.dataset("bots", settings.catalog()).to_table(
        filter=ds.field("bot_id") == result.bot_id
    )
    row: dict[str, Any] = bots.to_pylist()[0]
    assert result.transcript == row["transcript"]  # what runs, artifacts and the CLI show
    return row


def _utterances(settings: Settings, bot_id: str) -> Any:
    where = [("bot_id", "==", bot_id)]
    return catalog.read_table("utterances", settings.catalog(), filters=where).sort_values(
        "utterance_index"
    )


async def test_a_teams_transcript_is_attributed_by_the_timeline_which_corrects_the_labels(
    simulator_url: str, tmp_path: Path
) -> None:
    settings = _settings(simulator_url, tmp_path)
    bot = await _capture(settings, TEAMS)
    assert (bot["outcome"], bot["transcript"], bot["transcript_provider"]) == (
        "captured",
        "available",
        "deepgram",
    )
    said = _utterances(settings, bot["bot_id"])
    assert bot["utterances"] == len(said) == 48
    assert set(said["attribution"]) == {"timeline"}  # Teams: no per-participant audio
    wrong = said[said["speaker_disagrees"]]
    assert len(wrong) == 16  # every third label names someone else...
    assert (wrong["provider_speaker"] != wrong["participant_name"]).all()
    truth = {"Olivia Brown": (0, 240), "Noah Wilson": (240, 480), "Emma Davis": (480, 720)}
    for row in said.itertuples():  # ...and each utterance still goes to who spoke
        low, high = truth[row.participant_name]
        assert low <= row.start_seconds < high
    words = catalog.read_table(
        "words", settings.catalog(), filters=[("bot_id", "==", bot["bot_id"])]
    )
    assert len(words) == said["words"].sum()


async def test_namesakes_keep_their_own_utterances_by_device(
    simulator_url: str, tmp_path: Path
) -> None:
    settings = _settings(simulator_url, tmp_path)
    bot = await _capture(settings, MEET)
    said = _utterances(settings, bot["bot_id"])
    alex = said[said["participant_name"] == "Alex Kim"]
    assert alex["device_id"].nunique() == 2
    assert set(alex["attribution"]) == {"track"}
    assert alex["audio_stream_id"].nunique() == 2


async def test_a_failed_transcription_is_recorded_and_the_capture_still_succeeds(
    simulator_url: str, tmp_path: Path
) -> None:
    bot = await _capture(_settings(simulator_url, tmp_path), FAILS)
    assert (bot["outcome"], bot["transcript"], bot["utterances"]) == ("captured", "failed", None)
    assert bot["transcript_id"]


async def test_a_transcript_still_202_at_the_deadline_is_recorded_not_ready(
    simulator_url: str, tmp_path: Path
) -> None:
    settings = _settings(simulator_url, tmp_path, processing_timeout_seconds=2)
    bot = await _capture(settings, STUCK)
    assert (bot["outcome"], bot["transcript"]) == ("captured", "not_ready")


async def test_an_unknown_transcript_is_recorded_missing(
    simulator_url: str, tmp_path: Path
) -> None:
    rule = {"endpoint": "get_transcript", "status": 404, "message": "Not found.", "count": None}
    admin = simulator_url.removesuffix("/api/v1") + "/_simulator/faults"
    httpx.post(admin, json=rule, timeout=5).raise_for_status()
    try:
        bot = await _capture(_settings(simulator_url, tmp_path), FAILS.replace("1", "3"))
    finally:
        httpx.delete(admin, timeout=5)
    assert (bot["outcome"], bot["transcript"]) == ("captured", "missing")


async def test_without_a_provider_nothing_is_asked_and_nothing_is_fetched(
    simulator_url: str, tmp_path: Path
) -> None:
    bot = await _capture(_settings(simulator_url, tmp_path, transcript_provider=None), TEAMS)
    assert (bot["transcript"], bot["transcript_id"]) == ("not_requested", None)


async def test_transcribe_catalogues_a_transcript_for_a_bot_captured_without_one(
    simulator_url: str, tmp_path: Path
) -> None:
    settings = _settings(simulator_url, tmp_path, transcript_provider=None)
    bot = await _capture(settings, FAILS)
    env = {
        "MEETSTREAM_API_URL": simulator_url,
        "MEETSTREAM_API_KEY": DEMO_API_KEY,
        "MEETSTREAM_POLL_INTERVAL_SECONDS": "0.05",
        "MEETSTREAM_POLL_MAX_INTERVAL_SECONDS": "0.2",
        "PATH": "/usr/bin:/bin",
    }
    root = str(settings.catalog_root)
    command = [sys.executable, "-m", "meetstream_catalog.cli.main", "transcribe"]
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, bot["bot_id"], "--provider", "assemblyai", "--catalog-root", root],
        env=env | {"PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "utterances catalogued" in done.stdout
    row = catalog.read_table("bots", root).to_dict("records")[0]
    assert (row["transcript"], row["transcript_provider"], row["outcome"]) == (
        "available",
        "assemblyai",
        "captured",
    )
    said = _utterances(settings, bot["bot_id"])
    assert len(said) == row["utterances"] > 0
    assert set(said["attribution"]) == {"track"}  # Zoom: each speaker has their own file
    unknown = await asyncio.to_thread(
        subprocess.run,
        [*command, "no-such-bot", "--provider", "deepgram", "--catalog-root", root],
        env=env | {"PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unknown.returncode == 1
    assert "not in the catalog" in unknown.stderr
