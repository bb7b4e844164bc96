"""`meetstream-catalog capture` and `collect` as a user runs them, in a real subprocess.

Every refusal is one line on stderr with a non-zero exit, before any bot exists (counted on
the simulator's admin route); a capture prints its bot id and progress; Ctrl-C says how to
resume. The simulator serves over a real socket on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from meetstream_catalog.simulator.scenario import load_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig
from tests.conftest import free_port

CLI = str(Path(sys.executable).parent / "meetstream-catalog")
ZOOM = "https://zoom.us/j/1000000001"


LONG = "https://zoom.us/j/5550009999"  # one hour: 30 s at 120x, long enough to interrupt


@pytest.fixture(scope="module")
def simulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    people = [{"name": "Ana Souza", "speech": [[0, 40]], "camera": [[0, 60]]}]
    script = {"duration": 3600, "join_delay": 2, "participants": people}
    path = tmp_path_factory.mktemp("cli") / "scenario.yaml"
    path.write_text(yaml.safe_dump({"meetings": {ZOOM: {**script, "duration": 120}, LONG: script}}))
    with serve_in_thread(SimulatorConfig(scenario=load_scenario(path), speed=120)) as url:
        yield url


def bots_created(api_url: str) -> int:
    admin = api_url.removesuffix("/api/v1") + "/_simulator/bots"
    return len(httpx.get(admin).json()["bots"])


def env_for(api_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEETSTREAM_", "AWS_"))}
    env.update(
        MEETSTREAM_API_URL=api_url,
        MEETSTREAM_API_KEY=DEMO_API_KEY,
        MEETSTREAM_MEDIA_ROOT=str(tmp_path / "media"),
        MEETSTREAM_CATALOG_ROOT=str(tmp_path / "catalog"),
        MEETSTREAM_POLL_INTERVAL_SECONDS="0.2",
        MEETSTREAM_POLL_MAX_INTERVAL_SECONDS="0.5",
        AWS_EC2_METADATA_DISABLED="true",  # no credential lookups off this machine
    )
    env.pop("PREFECT_API_URL", None)
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def refusal(*args: str, env: dict[str, str]) -> str:
    done = run_cli("capture", *args, env=env)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert done.stdout == ""
    return lines[0]


@pytest.mark.parametrize(
    ("link", "extra_args", "expected"),
    [
        ("not a meeting link", [], "not a meeting link"),
        ("https://example.com/j/1", [], "not a meeting link"),
        (ZOOM, ["--join-at", "2020-01-01T10:00:00+00:00"], "is in the past"),
    ],
)
def test_bad_requests_are_refused_in_one_line_before_a_bot_exists(
    simulator_url: str, tmp_path: Path, link: str, extra_args: list[str], expected: str
) -> None:
    before = bots_created(simulator_url)

    line = refusal(link, *extra_args, env=env_for(simulator_url, tmp_path))

    assert expected in line
    assert bots_created(simulator_url) == before


def test_a_join_time_without_a_zone_is_refused_by_the_argument_parser(
    simulator_url: str, tmp_path: Path
) -> None:
    done = run_cli(
        "capture", ZOOM, "--join-at", "2030-01-01T10:00", env=env_for(simulator_url, tmp_path)
    )

    assert done.returncode == 2
    assert "has no time zone" in done.stderr


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"MEETSTREAM_API_KEY": ""}, "set the MEETSTREAM_API_KEY"),
        ({"MEETSTREAM_API_KEY": "sk_wrong_key"}, "refused the API key"),
        ({"MEETSTREAM_API_URL": f"http://127.0.0.1:{free_port()}/api/v1"}, "cannot reach"),
    ],
)
def test_api_settings_that_cannot_work_say_what_to_set(
    simulator_url: str, tmp_path: Path, settings: dict[str, str], expected: str
) -> None:
    before = bots_created(simulator_url)

    line = refusal(ZOOM, env=env_for(simulator_url, tmp_path, **settings))

    assert expected in line
    assert "sk_wrong_key" not in line
    assert bots_created(simulator_url) == before


def test_a_catalog_root_that_cannot_be_written_is_refused_before_a_bot_exists(
    simulator_url: str, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    before = bots_created(simulator_url)

    line = refusal(
        ZOOM, "--catalog-root", str(blocker / "catalog"), env=env_for(simulator_url, tmp_path)
    )

    assert "MEETSTREAM_CATALOG_ROOT" in line
    assert "cannot write to" in line
    assert bots_created(simulator_url) == before


def test_s3_without_credentials_is_refused_before_a_bot_exists(
    simulator_url: str, tmp_path: Path, moto_endpoint: str
) -> None:
    before = bots_created(simulator_url)
    env = env_for(simulator_url, tmp_path, MEETSTREAM_S3_ENDPOINT_URL=moto_endpoint)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "none")

    line = refusal(ZOOM, "--media-root", "s3://no-credentials/media", env=env)

    assert "MEETSTREAM_MEDIA_ROOT" in line
    assert "credentials" in line.lower()
    assert bots_created(simulator_url) == before


def test_a_capture_prints_its_bot_and_progress_and_catalogues_the_meeting(
    simulator_url: str, tmp_path: Path
) -> None:
    done = run_cli(
        "capture", f"{ZOOM}?pwd=cli-secret", "--bot-name", "CLI Recorder",
        "--attribute", "team=sales", env=env_for(simulator_url, tmp_path),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "cli-secret" not in done.stdout + done.stderr
    assert "created for https://zoom.us/j/1000000001" in done.stderr
    assert "meetstream-catalog collect" in done.stderr
    assert "archived" in done.stderr
    assert "catalogued: captured" in done.stderr
    assert "Traceback" not in done.stderr
    assert '"outcome": "captured"' in done.stdout


def test_ctrl_c_says_the_bot_is_still_in_the_meeting_and_how_to_resume(
    simulator_url: str, tmp_path: Path
) -> None:
    env = env_for(simulator_url, tmp_path)
    process = subprocess.Popen(
        [CLI, "capture", LONG, "--bot-name", "Interrupted"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not _has_bot(simulator_url, LONG):
            assert time.monotonic() < deadline, "no bot was created"
            time.sleep(0.5)
        time.sleep(2)  # let the progress line about the bot reach the terminal
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    last = stderr.strip().splitlines()[-1]
    assert process.returncode == 130
    assert "is still in the meeting; resume with: meetstream-catalog collect " in last
    assert "Traceback" not in stderr


def _has_bot(api_url: str, link: str) -> bool:
    admin = api_url.removesuffix("/api/v1") + "/_simulator/bots"
    return any(b["meeting_url"] == link for b in httpx.get(admin).json()["bots"])


def test_a_writable_s3_root_passes_the_probe(moto_endpoint: str, s3_bucket: str) -> None:
    from meetstream_catalog.request.preflight import check_root
    from meetstream_catalog.roots import Root

    options = {"client_kwargs": {"endpoint_url": moto_endpoint}}
    check_root(Root(f"s3://{s3_bucket}/media", options), setting="MEETSTREAM_MEDIA_ROOT")
    check_root(Root(f"s3://{s3_bucket}/catalog", options), setting="X")
