"""What Prefect adds to a fleet of concurrent meetings: the `capture_meetings` flow vs a
plain-asyncio driver of the same plain functions, side by side, at N = 1, 50, 200 (1,000
with `--large`).

The plain driver runs exactly the steps `tasks/` wraps (`meetstream_catalog.capture`
over the run's clients from `meetstream_catalog.meetstream.http.open_clients`) with
`asyncio.gather` and no Prefect import. Two flow drivers: `prefect` is `capture_meetings`
as shipped (no task run per meeting: each is a row of the run's live table,
`flows.meeting.capture_in_batch`); `task` is the earlier design (one task run per meeting),
to measure that choice. All drivers run in fresh child processes against the same
simulator (its own process, 100x clock, tiny media) and, for the flows, a real
`prefect server` (SQLite, its own process), so each process's CPU is only its own. The
flows log at the product's level (INFO) to the API, so the server records every line the
UI would show; only the console is kept to warnings.

- wall ratio: flow wall / plain wall for the same N (every meeting's script lasts
  MEETING_SECONDS of real time; the rest is overhead);
- extra CPU per meeting: (flow process + Prefect server, minus the server's idle rate)
  minus the plain process, divided by N. The trap guarded against: counting the
  simulator's or the server's idle CPU as Prefect's cost;
- peak RSS of each driver process (`ru_maxrss`, imports included);
- API calls per meeting, from the simulator's request counter (`/_simulator/requests`).

Each child first captures one unmeasured warm-up meeting (imports, flow registration).
Every meeting must end 'captured'; the bench exits non-zero otherwise.

    .venv/bin/python -m bench.fleet_bench                 # N = 1, 50, 200
    .venv/bin/python -m bench.fleet_bench --large         # and 1,000
    .venv/bin/python -m bench.fleet_bench --meetings 1,20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

SPEED = 100.0  # meeting seconds per real second
JOIN, DURATION, AUDIO_DELAY, VIDEO_DELAY = 5.0, 600.0, 10.0, 20.0  # meeting seconds
MEETING_SECONDS = (JOIN + DURATION + VIDEO_DELAY) / SPEED  # real seconds, create -> media ready
POLL_INTERVAL, POLL_MAX_INTERVAL = 0.2, 1.0  # real seconds (MEETSTREAM_POLL_*)
API_KEY = "sk_fleet_bench_0123456789"
DEFAULT_MEETINGS = (1, 50, 200)
LARGE = 1000
QUICK_MEETINGS = "1,20"  # under `python -m bench`
DRIVERS = ("plain", "prefect", "task")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One driver's measured run of N meetings (from the child process)."""

    driver: str
    meetings: int
    wall: float
    cpu: float  # this process, seconds
    server_cpu: float  # Prefect server process tree, seconds, idle rate subtracted
    rss_mib: float
    api_calls: int
    status_calls: int
    failures: int


def _script() -> dict[str, Any]:
    half = DURATION / 2
    return {
        "duration": DURATION,
        "join_delay": JOIN,
        "processing": {"audio_delay": AUDIO_DELAY, "video_delay": VIDEO_DELAY},
        "participants": [
            {"name": "Ana Souza", "speech": [[0, half]], "camera": [[0, DURATION]]},
            {"name": "Ben Carter", "speech": [[half, DURATION]]},
        ],
    }


def _links(driver: str, count: int) -> list[str]:
    return [f"https://meet.google.com/fleet-{driver}-{count}-{i:04d}" for i in range(count)]


def _warmup_link(driver: str, count: int) -> str:
    return f"https://meet.google.com/fleet-{driver}-{count}-warm"


# Child side: one driver, one N ---------------------------------------------------------------


def _requests(links: list[str]) -> list[Any]:
    from meetstream_catalog.request import MeetingRequest

    return [MeetingRequest(meeting_link=link, bot_name="Fleet Recorder") for link in links]


async def _plain(links: list[str]) -> list[str]:
    """The plain driver: the steps `tasks/` wraps, without Prefect. Returns outcomes."""
    from meetstream_catalog import capture, catalogue
    from meetstream_catalog.job import CaptureJob
    from meetstream_catalog.meetstream.http import Clients, open_clients
    from meetstream_catalog.request import idempotency_key
    from meetstream_catalog.settings import Settings

    settings = Settings()
    scope = f"plain-{os.getpid()}-{time.time_ns()}"  # like a flow run id: a new bot per call

    async def one(request: Any, clients: Clients) -> str:
        job = CaptureJob.for_request(
            request,
            key=idempotency_key(request, run_scope=scope),
            settings=settings,
            media_root=settings.media(),
            catalog_root=settings.catalog(),
        )
        created = await capture.create_bot(clients.api, job)
        end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=job.leave_deadline_seconds)
        await asyncio.to_thread(catalogue.catalogue_in_progress, job, created.bot_id, end)
        left = await capture.wait_until_left(clients.api, job, created.bot_id, False)
        archived = await capture.collect(
            clients, job, created.bot_id, left.state, transcript_id=left.transcript_id
        )
        result = await asyncio.to_thread(catalogue.catalogue, job, created.bot_id, left, archived)
        return result.outcome.value

    async with open_clients(settings) as clients:
        outcomes = await asyncio.gather(
            *(one(r, clients) for r in _requests(links)), return_exceptions=True
        )
    return [o if isinstance(o, str) else f"failed: {o!r}" for o in outcomes]


def _prefect(links: list[str], *, per_meeting_task: bool = False) -> list[str]:
    import flows.capture
    from flows.capture import capture_meetings

    if per_meeting_task:  # the earlier design: every meeting a task run of its own
        flows.capture.capture_in_batch = _as_task()
    coro = capture_meetings(_requests(links), concurrency=max(1, len(links)))
    return [r.outcome.value for r in asyncio.run(coro)]


def _as_task() -> Any:
    """`capture_in_batch` wrapped in one task run per meeting, as it shipped before."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    from flows.meeting import capture_in_batch

    named = task(name="capture", task_run_name="capture {job.meeting_link}", cache_policy=NO_CACHE)
    return named(capture_in_batch)


def _drive(driver: str, links: list[str]) -> list[str]:
    if driver == "plain":
        return asyncio.run(_plain(links))
    return _prefect(links, per_meeting_task=driver == "task")


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live descendants, from /proc."""
    total, seen, todo = 0.0, set(), [pid]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo += [int(k) for k in (task / "children").read_text().split()]
    return total


def _calls(admin: str) -> dict[str, int]:
    answer = httpx.get(f"{admin}/requests", trust_env=False, timeout=30).json()
    return {"total": answer["total"], **answer["by_endpoint"]}


def child(driver: str, count: int) -> Run:
    """Measure one driver at N = count (run in a fresh process by the parent)."""
    admin = os.environ["FLEET_SIMULATOR_ADMIN"]
    server_pid = int(os.environ.get("FLEET_SERVER_PID", "0"))
    idle = float(os.environ.get("FLEET_SERVER_IDLE_CPU_PER_S", "0"))
    warm = _drive(driver, [_warmup_link(driver, count)])
    if warm != ["captured"]:
        raise SystemExit(f"warm-up meeting failed: {warm}")
    links = _links(driver, count)
    calls, server = _calls(admin), _tree_cpu(server_pid) if server_pid else 0.0
    cpu, start = time.process_time(), time.perf_counter()
    outcomes = _drive(driver, links)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if server_pid:
        time.sleep(2.0)  # the server records the last task runs' events after the flow ends
        server = _tree_cpu(server_pid) - server - idle * (wall + 2.0)
    after = _calls(admin)
    failed = [o for o in outcomes if o != "captured"]
    for outcome in failed[:5]:
        print(f"  FAILED: {outcome}", file=sys.stderr, flush=True)
    return Run(
        driver=driver,
        meetings=count,
        wall=wall,
        cpu=cpu,
        server_cpu=max(0.0, server),
        rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        api_calls=after["total"] - calls["total"],
        status_calls=after.get("status", 0) - calls.get("status", 0),
        failures=len(failed) + max(0, count - len(outcomes)),
    )


# Parent side: the simulator, the Prefect server, one child per driver and N ----------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[int]:
    """Start a process in its own group; stop it (and its children) by that PID."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc.pid
    finally:
        for sig, wait in ((2, 15.0), (15, 5.0), (9, 5.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)


def _env(tmp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MEETSTREAM_", "PREFECT_"))}
    return {
        **keep,
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def _idle_rate(pid: int, seconds: float = 5.0) -> float:
    before = _tree_cpu(pid)
    time.sleep(seconds)
    return (_tree_cpu(pid) - before) / seconds


def _measure(driver: str, count: int, env: dict[str, str]) -> Run:
    """One driver at N in a fresh process, writing a catalog and media root of its own: a
    Delta commit costs more the longer the table's log, so a driver measured after another
    on a shared catalog would pay for the other's commits."""
    argv = [sys.executable, "-m", "bench.fleet_bench", "--child", driver, "--meetings", str(count)]
    run_dir = Path(env["FLEET_RUNS_DIR"]) / f"{driver}-{count}"
    roots = {
        "MEETSTREAM_MEDIA_ROOT": str(run_dir / "media"),
        "MEETSTREAM_CATALOG_ROOT": str(run_dir / "catalog"),
    }
    done = subprocess.run(argv, env={**env, **roots}, capture_output=True, text=True, check=False)
    if done.returncode:
        tail = (done.stdout + done.stderr)[-4000:]
        raise RuntimeError(f"{driver} N={count} failed:\n{tail}")
    return Run(**json.loads(done.stdout.strip().splitlines()[-1]))


HEADER = (
    f"{'driver':>7} {'N':>5} {'plain s':>8} {'flow s':>8} {'wall x':>7} {'extra CPU ms/mtg':>16}"
    f" {'server ms/mtg':>13} {'plain MiB':>9} {'flow MiB':>8} {'calls/mtg':>9}"
    f" {'status/mtg':>10} {'failed':>6}"
)


def _row(plain: Run, flow: Run) -> str:
    n = plain.meetings
    extra = (flow.cpu + flow.server_cpu - plain.cpu) / n * 1000
    return (
        f"{n:5d} {plain.wall:8.2f} {flow.wall:8.2f} {flow.wall / plain.wall:7.2f}"
        f" {extra:16.0f} {flow.server_cpu / n * 1000:13.0f} {plain.rss_mib:9.0f}"
        f" {flow.rss_mib:8.0f} {flow.api_calls / n:9.1f} {flow.status_calls / n:10.1f}"
        f" {plain.failures + flow.failures:6d}"
    )


def bench(counts: list[int]) -> int:
    """Run the bench; returns the number of meetings that were not captured."""
    with tempfile.TemporaryDirectory(prefix="fleet-bench-", ignore_cleanup_errors=True) as name:
        tmp = Path(name)
        links = [
            link for d in DRIVERS for n in counts for link in (*_links(d, n), _warmup_link(d, n))
        ]
        scenario = tmp / "scenario.yaml"
        scenario.write_text(yaml.safe_dump({"meetings": dict.fromkeys(links, _script())}))
        env = _env(tmp)
        sim_port, api_port = _free_port(), _free_port()
        sim = [
            sys.executable, "-m", "meetstream_catalog.simulator", "--port", str(sim_port),
            "--api-key", API_KEY, "--speed", str(SPEED), "--scenario", str(scenario),
            "--speech-bytes-per-second", "64", "--video-bytes-per-second", "64",
            "--wav-sample-rate", "100",
        ]  # fmt: skip
        server = [
            str(Path(sys.executable).parent / "prefect"), "server", "start",
            "--host", "127.0.0.1", "--port", str(api_port),
        ]  # fmt: skip
        with (
            _process(sim, env, tmp / "simulator.log"),
            _process(server, env, tmp / "server.log") as server_pid,
        ):
            api_url = f"http://127.0.0.1:{api_port}/api"
            _wait_for(f"http://127.0.0.1:{sim_port}/_simulator/clock", 30, tmp / "simulator.log")
            _wait_for(f"{api_url}/health", 240, tmp / "server.log")
            return _run(counts, env, tmp, sim_port, api_url, server_pid)


def _run(
    counts: list[int], env: dict[str, str], tmp: Path, sim_port: int, api_url: str, pid: int
) -> int:
    from importlib.metadata import version

    idle = _idle_rate(pid)
    child_env = {
        **env,
        "PREFECT_API_URL": api_url,
        # The run log at the product's level, as in production (the console: warnings).
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        "MEETSTREAM_API_URL": f"http://127.0.0.1:{sim_port}/api/v1",
        "MEETSTREAM_API_KEY": API_KEY,
        "FLEET_RUNS_DIR": str(tmp / "runs"),
        "MEETSTREAM_POLL_INTERVAL_SECONDS": str(POLL_INTERVAL),
        "MEETSTREAM_POLL_MAX_INTERVAL_SECONDS": str(POLL_MAX_INTERVAL),
        "FLEET_SIMULATOR_ADMIN": f"http://127.0.0.1:{sim_port}/_simulator",
        "FLEET_SERVER_PID": str(pid),
        "FLEET_SERVER_IDLE_CPU_PER_S": f"{idle:.4f}",
    }
    print(
        f"Python {platform.python_version()}, prefect {version('prefect')}, "
        f"{os.cpu_count()} CPUs; simulator {SPEED:g}x in its own process; meeting "
        f"{MEETING_SECONDS:.2f} s real; polls {POLL_INTERVAL:g}..{POLL_MAX_INTERVAL:g} s; "
        f"Prefect server (SQLite) idle {idle * 1000:.0f} ms CPU/s, subtracted",
        flush=True,
    )
    print(HEADER, flush=True)
    failures = 0
    for count in counts:
        plain = _measure("plain", count, {**child_env, "FLEET_SERVER_PID": "0"})
        for driver in DRIVERS[1:]:
            flow = _measure(driver, count, child_env)
            failures += flow.failures
            print(f"{driver:>7} {_row(plain, flow)}", flush=True)
        failures += plain.failures
    print(f"failures: {failures}", flush=True)
    return failures


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_bench", description=__doc__)
    parser.add_argument("--meetings", default=",".join(map(str, DEFAULT_MEETINGS)))
    parser.add_argument("--large", action="store_true", help=f"also N = {LARGE}")
    parser.add_argument("--child", choices=DRIVERS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    """Entry point for `python -m bench`: a quick run in a fresh process."""
    command = [sys.executable, "-m", "bench.fleet_bench", "--meetings", QUICK_MEETINGS]
    if subprocess.run(command, check=False).returncode:
        raise SystemExit("fleet_bench failed")


if __name__ == "__main__":
    # SIGTERM (e.g. from `timeout`) must unwind like Ctrl-C, so the simulator and the
    # Prefect server this bench started are stopped by their PIDs, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = _parse(sys.argv[1:])
    if args.child:
        print(json.dumps(asdict(child(args.child, int(args.meetings)))), flush=True)
        sys.exit(0)
    numbers = [int(n) for n in args.meetings.split(",") if n.strip()]
    sys.exit(1 if bench([*numbers, *([LARGE] if args.large else [])]) else 0)
