"""N meetings through an unreliable MeetStream: 20% of API calls failing and a 5-minute
outage in the middle, against the same meetings without faults (the baseline), same run.

The simulator runs in this process's thread (60x clock: the 5-minute outage lasts 5 real
seconds, and the meeting script 3 real seconds); the `capture_meetings` flow runs on
Prefect's temporary API. Faults are the simulator's seeded rules, so a run is
reproducible: `{"endpoint": "*", "status": 500, "count": null, "probability": 0.2}` and,
starting mid-meeting, `{"endpoint": "*", "status": 503, "count": null, "for_seconds": 300}`.
Every meeting must end `captured`; the bench exits non-zero otherwise. Printed: wall time
and API calls per meeting for both runs, and their ratios.

    .venv/bin/python -m bench.faults_bench --meetings 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

SPEED = 60.0
SCRIPT = {
    "duration": 180,
    "join_delay": 5,
    "processing": {"audio_delay": 10, "video_delay": 20},
    "participants": [
        {"name": "Ana Souza", "speech": [[0, 90]], "camera": [[0, 180]]},
        {"name": "Ben Carter", "speech": [[90, 180]]},
    ],
}
FAULTS = [
    {"endpoint": "*", "status": 500, "count": None, "probability": 0.2, "seed": 11},
    {"endpoint": "*", "status": 503, "count": None, "for_seconds": 300, "start_at": 60},
]


def _run(api: str, data: Path, links: list[str], faults: list[dict[str, Any]]) -> dict[str, Any]:
    from flows.capture import capture_meetings
    from meetstream_catalog.request import MeetingRequest

    admin = api.removesuffix("/api/v1") + "/_simulator"
    httpx.post(f"{admin}/reset", timeout=30).raise_for_status()
    for rule in faults:
        httpx.post(f"{admin}/faults", json=rule, timeout=30).raise_for_status()
    os.environ["MEETSTREAM_CATALOG_ROOT"] = str(data / "catalog")
    os.environ["MEETSTREAM_MEDIA_ROOT"] = str(data / "media")
    requests = [MeetingRequest(meeting_link=link, bot_name="Faults Bench") for link in links]
    started = time.perf_counter()
    results = asyncio.run(capture_meetings(requests, concurrency=len(requests)))
    wall = time.perf_counter() - started
    calls = httpx.get(f"{admin}/requests", timeout=30).json()["total"]
    httpx.delete(f"{admin}/faults", timeout=30)
    return {
        "wall": wall,
        "calls_per_meeting": calls / len(links),
        "captured": sum(r.outcome == "captured" for r in results),
    }


def bench(count: int) -> int:
    from meetstream_catalog.simulator.scenario import parse_scenario
    from meetstream_catalog.simulator.server import serve_in_thread
    from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

    links = [f"https://zoom.us/j/77{i:06d}" for i in range(count)]
    scenario = parse_scenario({"meetings": dict.fromkeys(links, SCRIPT)})
    tmp = Path(tempfile.mkdtemp(prefix="faults-bench-"))
    os.environ.update(
        PREFECT_HOME=str(tmp / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        MEETSTREAM_API_KEY=DEMO_API_KEY,
        MEETSTREAM_POLL_INTERVAL_SECONDS="0.5",
        MEETSTREAM_POLL_MAX_INTERVAL_SECONDS="2",
    )
    with serve_in_thread(SimulatorConfig(scenario=scenario, speed=SPEED)) as api:
        os.environ["MEETSTREAM_API_URL"] = api
        clean = _run(api, tmp / "clean", links, [])
        faulty = _run(api, tmp / "faulty", links, FAULTS)
    print(f"{count} meetings of {SCRIPT['duration']} meeting-seconds at {SPEED:g}x")
    print(f"{'run':<34} {'wall s':>7} {'API calls/meeting':>18} {'captured':>9}")
    for name, run in (("baseline: no faults", clean), ("20% failing + 5-min outage", faulty)):
        print(
            f"{name:<34} {run['wall']:>7.1f} {run['calls_per_meeting']:>18.1f} "
            f"{run['captured']:>5}/{count}"
        )
    print(
        f"ratio faults/baseline: wall {faulty['wall'] / clean['wall']:.2f}x, "
        f"API calls {faulty['calls_per_meeting'] / clean['calls_per_meeting']:.2f}x"
    )
    return 0 if clean["captured"] == faulty["captured"] == count else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meetings", type=int, default=20)
    if code := bench(parser.parse_args(argv).meetings):
        sys.exit(code)


if __name__ == "__main__":
    main()
