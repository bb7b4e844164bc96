"""The timeline picture of real captures: `meetstream-catalog report` in a subprocess on a
catalog the capture's own steps built against the simulator (over a real socket, with a
transcript), and the image artifact of a one-meeting Prefect run (none in a batch)."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from meetstream_catalog.catalog.timeline_svg import COLOURS
from meetstream_catalog.cli.demo import DEMO_SCENARIO
from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.settings import Settings
from meetstream_catalog.simulator.scenario import load_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig
from tests.integration.test_cli_capture import env_for
from tests.integration.test_transcripts_capture import _capture as capture_row

ZOOM = "https://zoom.us/j/1000000001"
MEET = "https://meet.google.com/abc-defg-hij"
TEAMS = "https://teams.microsoft.com/l/meetup-join/demo-teams-meeting"
DENIED = "https://meet.google.com/den-iedx-bot"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    config = SimulatorConfig(scenario=load_scenario(DEMO_SCENARIO), speed=3000)
    with serve_in_thread(config) as url:
        yield url


@pytest.fixture(scope="module")
def captured(
    simulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str]]:
    """The catalog root and the bot id of each meeting captured into it."""
    data = tmp_path_factory.mktemp("timeline")
    settings = Settings(
        api_key=DEMO_API_KEY,
        api_url=simulator_url,
        media_root=str(data / "media"),
        catalog_root=str(data / "catalog"),
        poll_interval_seconds=0.05,
        poll_max_interval_seconds=0.2,
        transcript_provider="deepgram",
    )
    bots = {link: asyncio.run(_capture(settings, link)) for link in (MEET, TEAMS, DENIED)}
    return data / "catalog", bots


async def _capture(settings: Settings, link: str) -> str:
    row = await capture_row(settings, link)
    return str(row["bot_id"])


def report(*args: str, catalog: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "meetstream_catalog.cli.main", "report", *args]
    command += ["--catalog-root", str(catalog)]
    env = env_for("http://127.0.0.1:9/api/v1", tmp_path)  # the report never calls the API
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _svg(path: Path) -> ET.Element:
    return ET.fromstring(path.read_bytes())  # noqa: S314 - our own output, under test


def _rows(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("x") == "10"][2:]


def test_report_draws_namesakes_apart_and_their_talk_over(
    captured: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    catalog, bots = captured
    out = tmp_path / "pictures" / "meet.svg"

    done = report(bots[MEET], "--out", str(out), catalog=catalog, tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    assert f"{out}: 3 rows" in done.stdout
    root = _svg(out)
    assert _rows(root) == ["Alex Kim (1)", "Alex Kim (2)", "Jordan Lee"]
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert "talk-over 02:20–02:30" in titles  # the two Alex Kims at 140-150 s
    utterances = [r for r in root.iter(f"{SVG}rect") if r.get("height") == "9"]
    assert len(utterances) > 0
    text = out.read_text()
    assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert DEMO_API_KEY not in text


def test_report_marks_the_teams_labels_the_timeline_corrected(
    captured: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    catalog, bots = captured
    out = tmp_path / "teams.svg"

    done = report(bots[TEAMS], "--out", str(out), catalog=catalog, tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    root = _svg(out)
    assert _rows(root) == ["Olivia Brown", "Noah Wilson", "Emma Davis"]
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect") if r.get("height") == "9"]
    assert (fills.count(COLOURS["disagrees"]), len(fills)) == (16, 48)
    again = tmp_path / "again.svg"
    report(bots[TEAMS], "--out", str(again), catalog=catalog, tmp_path=tmp_path)
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize(
    ("which", "expected"),
    [("unknown", "is not in the catalog"), ("denied", "has no speech turns")],
)
def test_nothing_to_draw_is_one_line_and_exit_status_1(
    captured: tuple[Path, dict[str, str]], tmp_path: Path, which: str, expected: str
) -> None:
    catalog, bots = captured
    bot = bots[DENIED] if which == "denied" else "no-such-bot"
    out = tmp_path / "none.svg"

    done = report(bot, "--out", str(out), catalog=catalog, tmp_path=tmp_path)

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    assert expected in done.stderr
    assert not out.exists()


def test_a_malformed_as_of_is_a_usage_error_and_time_travel_works(
    captured: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    catalog, bots = captured
    out = tmp_path / "old.svg"
    done = report(bots[MEET], "--out", str(out), "--as-of", "yesterday", catalog=catalog,
                  tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "neither a table version" in done.stderr

    # Version 0 of every table holds the first capture (Meet) only.
    done = report(bots[MEET], "--out", str(out), "--as-of", "0", catalog=catalog,
                  tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = report(bots[TEAMS], "--out", str(out), "--as-of", "0", catalog=catalog,
                  tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert "not in the catalog" in done.stderr


@pytest.fixture
def flow_settings(simulator_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The flows' settings, from the environment as on a worker, with a transcript."""
    values = {"API_URL": simulator_url, "API_KEY": DEMO_API_KEY,
              "MEDIA_ROOT": str(tmp_path / "media"), "CATALOG_ROOT": str(tmp_path / "catalog"),
              "POLL_INTERVAL_SECONDS": "0.05", "POLL_MAX_INTERVAL_SECONDS": "0.2",
              "TRANSCRIPT_PROVIDER": "deepgram"}  # fmt: skip
    for name, value in values.items():
        monkeypatch.setenv(f"MEETSTREAM_{name}", value)


async def _artifacts(flow_run_id: object) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    only = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=only)
    return {a.key or "": str(a.data) for a in found}


@pytest.mark.usefixtures("prefect_api", "flow_settings")
async def test_a_one_meeting_run_shows_its_timeline_as_an_image_artifact() -> None:
    from flows.capture import capture_meeting

    state = await capture_meeting(
        MeetingRequest(meeting_link=MEET, request_id="timeline"), return_state=True
    )
    assert state.is_completed()

    artifacts = await _artifacts(state.state_details.flow_run_id)
    markdown = artifacts["meeting-timeline"]
    head, _, rest = markdown.partition("(data:image/svg+xml;base64,")
    assert head.startswith("## Who spoke when")
    svg = base64.b64decode(rest.split(")", 1)[0])
    root = ET.fromstring(svg)  # noqa: S314 - ours
    # Base64 hides the picture from a plain-text scan of the server: look inside it.
    assert b"http" not in svg.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")
    assert DEMO_API_KEY.encode() not in svg
    assert _rows(root) == ["Alex Kim (1)", "Alex Kim (2)", "Jordan Lee"]
    assert "meeting-capture" in artifacts
    assert "catalog-delta" in artifacts


@pytest.mark.usefixtures("prefect_api", "flow_settings")
async def test_no_timeline_artifact_without_speech_nor_in_a_batch() -> None:
    from flows.capture import capture_meeting, capture_meetings

    denied = await capture_meeting(
        MeetingRequest(meeting_link=DENIED, request_id="timeline-denied"), return_state=True
    )
    batch = await capture_meetings(
        [MeetingRequest(meeting_link=MEET, request_id="timeline-batch")], return_state=True
    )
    assert [r.outcome for r in await batch.result()] == ["captured"]

    assert "meeting-timeline" not in await _artifacts(denied.state_details.flow_run_id)
    in_batch = await _artifacts(batch.state_details.flow_run_id)
    assert "capture-summary" in in_batch
    assert "meeting-timeline" not in in_batch
