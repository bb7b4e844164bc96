"""What capturing N meetings at once in one `capture_meetings` flow run costs, vs N = 1.

Starts the offline simulator in a thread (fast clock, tiny media), then runs the real
`capture_meetings` flow on Prefect's ephemeral API (temporary `PREFECT_HOME`) for each N,
with `concurrency = N`, so all N bots are waiting at the same time. Every meeting follows
the same script, which lasts MEETING_SECONDS of real time from bot creation until its last
media is ready; everything above that is overhead (bot creation, poll latency, downloads,
catalog writes, Prefect task and artifact bookkeeping). The baseline is N = 1 in the same
run; a short unmeasured warm-up meeting first starts the API server and loads the imports.

Peak RSS (`ru_maxrss`) is of this process, which also hosts the simulator; the ephemeral
API server is a child process, sampled separately. Every meeting must end 'captured': the
failure count is printed and the bench exits non-zero if any failed.

    .venv/bin/python -m bench.capture_bench --meetings 1,50,200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from meetstream_catalog.simulator.media import MediaProfile
from meetstream_catalog.simulator.scenario import Scenario, parse_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

SPEED = 100.0  # meeting seconds per real second
JOIN, DURATION, AUDIO_DELAY, VIDEO_DELAY = 5.0, 600.0, 10.0, 20.0  # meeting seconds
MEETING_SECONDS = (JOIN + DURATION + VIDEO_DELAY) / SPEED  # real seconds, create -> media ready
POLL_INTERVAL, POLL_MAX_INTERVAL = 0.2, 1.0  # real seconds (MEETSTREAM_POLL_*)
TINY_MEDIA = MediaProfile(
    speech_bytes_per_second=64, video_bytes_per_second=64, fps=1, wav_sample_rate=100
)
DEFAULT_MEETINGS = (1, 50, 200)
QUICK_MEETINGS = "1,20"  # under `python -m bench`: N=50 took 50-85 s, N=200 ~4 min
WARMUP_LINK = "https://meet.google.com/bench-warm-up"


def _script(duration: float) -> dict[str, Any]:
    half = duration / 2
    return {
        "duration": duration,
        "join_delay": JOIN,
        "processing": {"audio_delay": AUDIO_DELAY, "video_delay": VIDEO_DELAY},
        "participants": [
            {"name": "Ana Souza", "speech": [[0, half]], "camera": [[0, duration]]},
            {"name": "Ben Carter", "speech": [[half, duration]]},
        ],
    }


def _links(run: int, count: int) -> list[str]:
    return [f"https://meet.google.com/bench-{run}-{i:04d}" for i in range(count)]


def _scenario(counts: list[int]) -> Scenario:
    meetings = {link: _script(DURATION) for r, n in enumerate(counts) for link in _links(r, n)}
    meetings[WARMUP_LINK] = _script(60.0)
    return parse_scenario({"meetings": meetings})


def _status(pid: int | str) -> dict[str, int]:
    """Threads and VmRSS/VmHWM (KiB) of a process, from /proc; empty when gone."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Threads", "VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def _children() -> list[str]:
    kids: list[str] = []
    for task in Path("/proc/self/task").iterdir():
        with suppress(OSError):
            kids += (task / "children").read_text().split()
    return kids


class Sampler:
    """Peak OS thread count of this process and peak RSS of its children, every 50 ms."""

    def __init__(self) -> None:
        self.threads = 0
        self.child_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            self.threads = max(self.threads, _status("self").get("Threads", 0))
            kids = sum(_status(pid).get("VmRSS", 0) for pid in _children())
            self.child_kib = max(self.child_kib, kids)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Result:
    meetings: int
    wall: float
    failures: int
    spread: float  # real seconds between the first and the last bot's creation
    rss_mib: float  # ru_maxrss after the run (process lifetime peak)
    threads: int
    server_mib: float
    db_mib: float
    media_bytes: int

    @property
    def overhead(self) -> float:
        return self.wall - MEETING_SECONDS

    @property
    def per_meeting(self) -> float:
        return self.overhead / self.meetings


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _creation_spread(api_url: str, links: list[str]) -> float:
    admin = api_url.split("/api/", 1)[0] + "/_simulator/bots"
    bots = httpx.get(admin, trust_env=False, timeout=30).json()["bots"]
    created = [b["created_at"] for b in bots if b["meeting_url"] in set(links)]
    return (max(created) - min(created)) / SPEED if created else float("nan")


def _requests(links: list[str], run: int) -> list[Any]:
    from meetstream_catalog.request import MeetingRequest

    return [
        MeetingRequest(meeting_link=link, bot_name="Bench Recorder", request_id=f"b{run}-{i}")
        for i, link in enumerate(links)
    ]


def _capture(links: list[str], run: int, data: Path) -> list[dict[str, Any]]:
    from flows.capture import capture_meetings

    os.environ["MEETSTREAM_MEDIA_ROOT"] = str(data / "media")  # roots are worker settings
    os.environ["MEETSTREAM_CATALOG_ROOT"] = str(data / "catalog")
    coro = capture_meetings(_requests(links, run), concurrency=max(1, len(links)))
    return [r.model_dump(mode="json") for r in asyncio.run(coro)]


def _failures(results: list[dict[str, Any]], expected: int) -> int:
    bad = [r for r in results if r.get("outcome") != "captured"]
    for r in bad[:5]:
        print(f"  FAILED {r.get('meeting')}: {r.get('outcome')} {r.get('reason')}", flush=True)
    return len(bad) + max(0, expected - len(results))


def _db_mib(home: Path) -> float:
    return sum(p.stat().st_size for p in home.glob("*.db*")) / 2**20


def _run(counts: list[int], api_url: str, home: Path, data: Path) -> list[Result]:
    started = time.perf_counter()
    warm = _capture([WARMUP_LINK], -1, data)
    print(
        f"warm-up (API server start, imports): {time.perf_counter() - started:.1f} s, "
        f"{_failures(warm, 1)} failure(s)",
        flush=True,
    )
    results: list[Result] = []
    for run, count in enumerate(counts):
        links = _links(run, count)
        with Sampler() as sampler:
            start = time.perf_counter()
            outcomes = _capture(links, run, data)
            wall = time.perf_counter() - start
        result = Result(
            meetings=count,
            wall=wall,
            failures=_failures(outcomes, count),
            spread=_creation_spread(api_url, links),
            rss_mib=_max_rss_mib(),
            threads=sampler.threads,
            server_mib=sampler.child_kib / 1024,
            db_mib=_db_mib(home),
            media_bytes=sum(int(r.get("media_bytes") or 0) for r in outcomes),
        )
        results.append(result)
        _print_row(result, results[0])
    return results


HEADER = (
    f"{'N':>4} {'wall s':>7} {'overhead s':>10} {'per mtg ms':>10} {'created in s':>12}"
    f" {'maxrss MiB':>10} {'+MiB vs 1':>9} {'threads':>7} {'API MiB':>7} {'db MiB':>6}"
    f" {'media KiB':>9} {'failed':>6}"
)


def _print_row(r: Result, base: Result) -> None:
    print(
        f"{r.meetings:4d} {r.wall:7.2f} {r.overhead:10.2f} {r.per_meeting * 1000:10.1f}"
        f" {r.spread:12.2f} {r.rss_mib:10.1f} {r.rss_mib - base.rss_mib:9.1f}"
        f" {r.threads:7d} {r.server_mib:7.1f} {r.db_mib:6.1f}"
        f" {r.media_bytes / 1024:9.0f} {r.failures:6d}",
        flush=True,
    )


def _summary(results: list[Result]) -> None:
    base, last = results[0], results[-1]
    if last is base:
        return
    extra = last.meetings - base.meetings
    print(
        f"overhead per meeting, N={last.meetings} vs N={base.meetings}: "
        f"ratio {last.per_meeting / base.per_meeting:.3f}"
        f" ({last.per_meeting * 1000:.0f} ms vs {base.per_meeting * 1000:.0f} ms)",
        flush=True,
    )
    if extra > 0:
        print(
            f"marginal cost of one more meeting (N={base.meetings} -> {last.meetings}): "
            f"{(last.overhead - base.overhead) / extra * 1000:.0f} ms of wall time, "
            f"{(last.rss_mib - base.rss_mib) / extra * 1024:.0f} KiB of peak RSS",
            flush=True,
        )


@contextmanager
def _prefect_home() -> Iterator[Path]:
    """A throw-away PREFECT_HOME and quiet, offline Prefect; must precede `import prefect`."""
    if "prefect" in sys.modules:
        raise RuntimeError("capture_bench must configure Prefect before it is imported")
    with tempfile.TemporaryDirectory(prefix="capture-bench-", ignore_cleanup_errors=True) as tmp:
        home = Path(tmp) / "prefect"
        os.environ.update(
            {
                "PREFECT_HOME": str(home),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "WARNING",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
            }
        )
        yield home


def _stop_api_server() -> None:
    from prefect.server.api.server import SubprocessASGIServer

    time.sleep(1)  # let the last events flush before the server goes away
    SubprocessASGIServer().stop()


def bench(counts: list[int]) -> int:
    """Run the bench; returns the number of meetings that were not captured."""
    with _prefect_home() as home:
        config = SimulatorConfig(scenario=_scenario(counts), speed=SPEED, media=TINY_MEDIA)
        with serve_in_thread(config) as api_url:
            os.environ.update(
                {
                    "MEETSTREAM_API_URL": api_url,
                    "MEETSTREAM_API_KEY": DEMO_API_KEY,
                    "MEETSTREAM_POLL_INTERVAL_SECONDS": str(POLL_INTERVAL),
                    "MEETSTREAM_POLL_MAX_INTERVAL_SECONDS": str(POLL_MAX_INTERVAL),
                }
            )
            import prefect

            print(
                f"Python {platform.python_version()}, prefect {prefect.__version__}, "
                f"{os.cpu_count()} CPUs; simulator {SPEED:g}x in this process; "
                f"meeting {MEETING_SECONDS:.2f} s real (create -> media ready), "
                f"polls {POLL_INTERVAL:g}..{POLL_MAX_INTERVAL:g} s; concurrency = N",
                flush=True,
            )
            try:
                results = _run(counts, api_url, home, home.parent / "data")
            finally:
                _stop_api_server()
    _summary(results)
    failures = sum(r.failures for r in results)
    print(f"failures: {failures} of {sum(counts)} meetings", flush=True)
    return failures


def _parse(argv: list[str] | None) -> list[int]:
    parser = argparse.ArgumentParser(prog="python -m bench.capture_bench", description=__doc__)
    parser.add_argument(
        "--meetings",
        default=",".join(map(str, DEFAULT_MEETINGS)),
        help="comma-separated meeting counts; the first is the baseline (default %(default)s)",
    )
    counts = [int(n) for n in parser.parse_args(argv).meetings.split(",") if n.strip()]
    if not counts or min(counts) < 1:
        parser.error("--meetings needs positive counts, e.g. 1,50,200")
    return counts


def main() -> None:
    """Entry point for `python -m bench`: a fresh process, so that Prefect is configured
    before its import and peak RSS is not the other benches' memory."""
    command = [sys.executable, "-m", "bench.capture_bench", "--meetings", QUICK_MEETINGS]
    done = subprocess.run(command, check=False)
    if done.returncode:
        raise SystemExit(f"capture_bench failed (exit {done.returncode})")


if __name__ == "__main__":
    sys.exit(1 if bench(_parse(sys.argv[1:])) else 0)
