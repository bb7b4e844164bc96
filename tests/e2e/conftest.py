"""End-to-end harness: a real Prefect server, the simulator, the `meetstream` process work
pool, the deployments of prefect.yaml and a worker, all on 127.0.0.1, once per session.

Every process is started from this Python process in its own process group with SIGINT
restored to its default (a process started from a non-interactive shell inherits SIGINT
ignored, and the worker turns one SIGTERM into SIGINT), and is stopped by its own PID /
process group: SIGINT, then SIGTERM, then SIGKILL on timeout. Nothing is stopped by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
API_KEY = "sk_e2e_simulator_key_0123456789"
MEETING = "https://zoom.us/j/5550001111?pwd=e2e-secret"
FANOUT = ("https://meet.google.com/abc-defg-hij", "https://zoom.us/j/5550002222")
SCHEDULED = "https://zoom.us/j/5550003333?pwd=scheduled-secret"
WEBHOOK_MEETINGS = tuple(f"https://zoom.us/j/55501{n:05d}" for n in range(20))
WEBHOOK_SECRET = "whsec_e2e_receiver_secret"
# The workers sign each callback URL's token with it, the receiver checks them.
WEBHOOK_TOKEN_KEY = "tk_e2e_callback_token_key"

# Restore SIGINT's default disposition, then become the real program.
_LAUNCH = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    api_url: str
    simulator_url: str
    catalog_root: Path
    media_root: Path
    work_dir: Path
    logs: dict[str, Path]
    receiver_url: str = ""
    meeting: str = MEETING
    fanout: tuple[str, str] = FANOUT
    scheduled: str = SCHEDULED

    @property
    def meetings(self) -> Path:
        """The worker's meeting list (MEETSTREAM_MEETINGS_URL)."""
        return self.work_dir / "meetings.csv"

    def tail(self) -> str:
        """The end of every process log, for failure messages."""
        parts = []
        for name, path in self.logs.items():
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {name} ---\n{text[-3000:]}")
        return "\n".join(parts)


class Processes:
    """Processes this session started; stopped in reverse order by PID / process group."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", _LAUNCH, *argv],
                cwd=PROJECT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: children stop with it
            )
        self.started.append((name, process))

    def stop_all(self) -> None:
        for _name, process in reversed(self.started):
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # pgid == pid: start_new_session
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
    # Flow-run children left in the group after the leader exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _base_env(prefect_home: Path, api_url: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MEETSTREAM_", "AWS_", "PREFECT_"))
    }
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_CLI_PROMPT": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float, stack: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}\n{stack}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s\n{stack}")


def _cli(argv: Sequence[str], env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), *argv],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"prefect {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _scenario(path: Path) -> Path:
    """Short meetings (2 meeting-minutes, 5/10 s processing) with known participants."""
    script = {
        "duration": 120,
        "join_delay": 2,
        "processing": {"audio_delay": 5, "video_delay": 10},
        "participants": [
            {"name": "Ana Souza", "speech": [[0, 40]], "camera": [[0, 120]]},
            {"name": "Ben Carter", "speech": [[40, 90]]},
            {"name": "Chen Wei", "speech": [[90, 120]], "camera": [[10, 60]]},
        ],
    }
    links = (MEETING, *FANOUT, SCHEDULED)
    meetings = {link: script for link in links}
    # Webhook-mode meetings: one meeting-minute (1 s at 60x), two people.
    short = {**script, "duration": 60, "participants": script["participants"][:2]}
    meetings.update({link: short for link in WEBHOOK_MEETINGS})
    path.write_text(yaml.safe_dump({"meetings": meetings}))
    return path


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole deployment, ready to take runs."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    tmp = tmp_path_factory.mktemp("e2e")
    api_port, sim_port, hook_port = free_port(), free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}/api"
    sim_url = f"http://127.0.0.1:{sim_port}/api/v1"
    logs = {
        n: tmp / f"{n}.log" for n in ("server", "simulator", "worker", "webhook-worker", "receiver")
    }
    work = tmp / "work"
    work.mkdir()
    built = Stack(api_url, sim_url, tmp / "catalog", tmp / "media", work, logs)
    built.receiver_url = f"http://127.0.0.1:{hook_port}/webhooks/meetstream"
    procs = Processes()
    try:
        server_env = _base_env(tmp / "server-home", api_url)
        server_env["PREFECT_UI_ENABLED"] = "false"
        # The server's own scheduler, looking every 2 s instead of every 60 s.
        server_env["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] = "2"
        server_env.pop("PREFECT_API_URL")
        procs.start(
            "server",
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                f"{api_port}",
            ],
            server_env,
            logs["server"],
        )
        scenario = _scenario(tmp / "scenario.yaml")
        procs.start(
            "simulator",
            [
                sys.executable,
                "-m",
                "meetstream_catalog.simulator",
                "--port",
                f"{sim_port}",
                "--api-key",
                API_KEY,
                "--speed",
                "60",
                "--scenario",
                str(scenario),
                # Unsigned, as MeetStream may send per-bot callbacks: the deliveries get
                # into the receiver by their callback URL's token alone.
                "--webhook-secret",
                "",
            ],
            _base_env(tmp / "client-home", api_url),
            logs["simulator"],
        )
        server = procs.started[0][1]
        _wait_healthy(f"{api_url}/health", server, 180, built.tail())
        _wait_healthy(f"{sim_url}/bot", procs.started[1][1], 30, built.tail())

        client_env = _base_env(tmp / "client-home", api_url)
        # docs/deploy.md's pool: its template gives a run no say over env, command or
        # working directory (a run's job variables cannot move the catalog elsewhere).
        template = str(PROJECT / "work-pool.json")
        _cli(["work-pool", "create", "meetstream", "--type", "process",
              "--base-job-template", template], client_env)  # fmt: skip
        _cli(["work-queue", "create", "webhooks", "--pool", "meetstream"], client_env)
        deploy_env = {**client_env, "MEETSTREAM_PROJECT_DIR": str(PROJECT)}
        _cli(["--no-prompt", "deploy", "--all"], deploy_env)

        worker_env = {
            **client_env,
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "1",
            "MEETSTREAM_API_URL": sim_url,
            "MEETSTREAM_API_KEY": API_KEY,
            "MEETSTREAM_CATALOG_ROOT": str(built.catalog_root),
            "MEETSTREAM_MEDIA_ROOT": str(built.media_root),
            "MEETSTREAM_POLL_INTERVAL_SECONDS": "0.2",
            "MEETSTREAM_POLL_MAX_INTERVAL_SECONDS": "0.5",
            "MEETSTREAM_PROCESSING_TIMEOUT_SECONDS": "60",
            "MEETSTREAM_MEETINGS_URL": str(built.meetings),
            "MEETSTREAM_WEBHOOK_TOKEN_KEY": WEBHOOK_TOKEN_KEY,
        }
        procs.start(
            "worker",
            [str(BIN / "prefect"), "worker", "start", "--pool", "meetstream", "--type", "process",
             "--work-queue", "default"],
            worker_env,
            logs["worker"],
        )  # fmt: skip
        # Webhook mode is a worker's setting (MEETSTREAM_WEBHOOK_URL), not a run's: a worker
        # of its own, on the pool's `webhooks` queue. Its bots are also asked for a
        # transcript, which the event-triggered collections catalogue.
        procs.start(
            "webhook-worker",
            [str(BIN / "prefect"), "worker", "start", "--pool", "meetstream", "--type", "process",
             "--work-queue", "webhooks"],
            {**worker_env, "MEETSTREAM_WEBHOOK_URL": built.receiver_url,
             "MEETSTREAM_TRANSCRIPT_PROVIDER": "assemblyai"},
            logs["webhook-worker"],
        )  # fmt: skip
        # As docs/deploy.md starts it: both keys, the catalog it reads and appends to.
        receiver_env = {
            **client_env,
            "MEETSTREAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MEETSTREAM_WEBHOOK_TOKEN_KEY": WEBHOOK_TOKEN_KEY,
            "MEETSTREAM_CATALOG_ROOT": str(built.catalog_root),
        }
        procs.start(
            "receiver",
            [sys.executable, "-m", "meetstream_catalog.webhooks", "--port", f"{hook_port}"],
            receiver_env,
            logs["receiver"],
        )
        receiver = procs.started[-1][1]
        _wait_healthy(
            built.receiver_url.replace("/webhooks/meetstream", "/health"),
            receiver,
            30,
            built.tail(),
        )
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield built
    finally:
        procs.stop_all()
