"""What asking for transcripts costs a capture, and who said what (issue 20).

N meetings (default 200) cycling the demo's Zoom, Google Meet and Teams scripts, each
platform's links made fresh, on the offline simulator in this process (fast clock), through
the real flows on Prefect's ephemeral API (temporary `PREFECT_HOME`), in three phases of
the same run:

- `off`: polling mode (`capture_meetings`, mode `wait`) without a transcript: the baseline;
- `on`: the same with `MEETSTREAM_TRANSCRIPT_PROVIDER=assemblyai`;
- `webhook-off` / `webhook-on`: mode `webhook`, without and with transcripts: the capture
  run records each bot in progress and ends; when the simulator's status says Done (the
  instant its `bot.done` webhook fires, after `transcription.processed`), a `collect_bot`
  run per bot archives and catalogues it, which is the run the receiver's event starts in
  production. The trigger itself is not
  measured here (`bench/webhook_bench.py` and tests/e2e/test_webhooks.py take that path).

Per phase: API calls per meeting (the simulator's counter, by endpoint for the transcript
calls), and the collection's wall time per meeting from the `bots` rows: `collected_at -
left_at` in polling mode, `collected_at - start of its collect run` in webhook mode (at
most COLLECTORS runs at once); real seconds, the meeting itself runs at SPEED. The
transcript wait is the difference between `on` and `off` in each mode. Then the share of
utterances attributed by track, timeline, provider label or none, per platform, and the
provider labels that disagreed with the track.

    .venv/bin/python -m bench.transcript_bench                 # 200 meetings per phase
    .venv/bin/python -m bench.transcript_bench --meetings 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import yaml

from bench.capture_bench import _prefect_home, _stop_api_server
from meetstream_catalog.simulator.scenario import Scenario, parse_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

SPEED = 60.0  # meeting seconds per real second: the demo's 10-15 minute meetings last 10-15 s
DEMO = Path(__file__).resolve().parents[1] / "meetstream_catalog/simulator/scenarios/demo.yaml"
PHASES = ("off", "on", "webhook-off", "webhook-on")
TOKEN_KEY = "tk_transcript_bench_key"  # noqa: S105 - local only: signs callback URLs
TRANSCRIPT_CALLS = ("get_transcript", "list_transcriptions")
QUICK_MEETINGS = "20"
COLLECTORS = 20  # webhook mode: collect runs at once


def _link(platform: str, phase: int, i: int) -> str:
    if platform == "zoom":
        return f"https://zoom.us/j/9{phase}{i:08d}"
    if platform == "google_meet":
        code = "".join(chr(ord("a") + int(d)) for d in f"{phase}{i:09d}")
        return f"https://meet.google.com/{code[:3]}-{code[3:7]}-{code[7:]}"
    return f"https://teams.microsoft.com/l/meetup-join/bench-{phase}-{i}"


def _platform(link: str) -> str:
    return "zoom" if "zoom" in link else "google_meet" if "meet.google" in link else "teams"


def _scenario(count: int) -> tuple[Scenario, dict[str, list[str]]]:
    """The demo's scripts cycled over `count` fresh links per phase."""
    scripts = list(yaml.safe_load(DEMO.read_text())["meetings"].items())
    meetings: dict[str, Any] = {}
    links: dict[str, list[str]] = {}
    for p, phase in enumerate(PHASES):
        links[phase] = []
        for i in range(count):
            source, script = scripts[i % len(scripts)]
            link = _link(_platform(source), p, i)
            meetings[link] = script
            links[phase].append(link)
    return parse_scenario({"meetings": meetings}), links


def _calls(admin: str) -> dict[str, int]:
    answer = httpx.get(f"{admin}/requests", trust_env=False, timeout=30).json()
    return {"total": answer["total"], **answer["by_endpoint"]}


def _requests(links: list[str], phase: str) -> list[Any]:
    from meetstream_catalog.request import MeetingRequest

    return [
        MeetingRequest(meeting_link=link, bot_name="Bench Recorder", request_id=f"{phase}-{i}")
        for i, link in enumerate(links)
    ]


def _phase_env(phase: str, data: Path) -> None:
    os.environ["MEETSTREAM_MEDIA_ROOT"] = str(data / phase / "media")
    os.environ["MEETSTREAM_CATALOG_ROOT"] = str(data / phase / "catalog")
    if phase.endswith("off"):
        os.environ.pop("MEETSTREAM_TRANSCRIPT_PROVIDER", None)
    else:
        os.environ["MEETSTREAM_TRANSCRIPT_PROVIDER"] = "assemblyai"


async def _webhook(phase: str, links: list[str], admin: str) -> dict[str, float]:
    """Capture in webhook mode, then collect each bot once the simulator says Done; returns
    each bot's collect-run start (epoch seconds)."""
    from flows.capture import capture_meetings
    from flows.collect import collect_bot

    made = await capture_meetings(_requests(links, phase), len(links), mode="webhook")
    ids = {r.bot_id for r in made if r.bot_id}
    started: dict[str, float] = {}
    # At most COLLECTORS collect runs at once, as a worker's process limit would bound them
    # (200 flow runs created at once make the ephemeral API answer 503).
    gate = asyncio.Semaphore(COLLECTORS)

    async def collect(bot_id: str) -> None:
        async with gate:
            started[bot_id] = time.time()
            await collect_bot(bot_id)

    pending: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        while ids:
            bots = (await http.get(f"{admin}/bots")).json()["bots"]
            done = {b["bot_id"] for b in bots if b["bot_id"] in ids and b["status"] == "Done"}
            pending += [asyncio.create_task(collect(b)) for b in done]
            ids -= done
            await asyncio.sleep(0.2)
    await asyncio.gather(*pending)
    return started


def _run_phase(phase: str, links: list[str], admin: str, data: Path) -> dict[str, Any]:
    from flows.capture import capture_meetings
    from meetstream_catalog.catalog import read_table

    _phase_env(phase, data)
    before = _calls(admin)
    start = time.perf_counter()
    if phase.startswith("webhook"):
        started = asyncio.run(_webhook(phase, links, admin))
    else:
        asyncio.run(capture_meetings(_requests(links, phase), len(links), mode="wait"))
        started = {}
    wall = time.perf_counter() - start
    after = _calls(admin)
    bots = read_table("bots", str(data / phase / "catalog"))
    # The demo scripts one refused bot (denied) on purpose, in every phase. Anything else
    # not captured is a failure of the phase.
    bad = bots[~bots["outcome"].isin(["captured", "denied"])]
    for row in bad.head(3).itertuples():
        print(f"  {phase}: {row.bot_id} {row.outcome}: {row.reason}", flush=True)
    failed = len(bad) + len(links) - len(bots)
    if phase.startswith("webhook"):
        begun = bots["bot_id"].map(started)
        took = bots["collected_at"].map(lambda t: t.timestamp()) - begun
    else:
        took = (bots["collected_at"] - bots["left_at"]).dt.total_seconds()
    n = len(links)
    return {
        "phase": phase,
        "meetings": n,
        "failed": failed,
        "wall": wall,
        "calls": (after["total"] - before["total"]) / n,
        **{c: (after.get(c, 0) - before.get(c, 0)) / n for c in TRANSCRIPT_CALLS},
        "collect_median": statistics.median(took),
        "collect_p90": statistics.quantiles(took, n=10)[-1],
        "outcomes": bots["outcome"].value_counts().to_dict(),
        "transcripts": bots["transcript"].value_counts(dropna=False).to_dict(),
    }


def _attribution(data: Path) -> pd.DataFrame:
    from meetstream_catalog.catalog import read_table

    root = str(data / "on" / "catalog")
    said = read_table("utterances", root)
    bots = read_table("bots", root, columns=["bot_id", "platform"])
    said = said.merge(bots, on="bot_id")
    table = pd.crosstab(said["platform"], said["attribution"], margins=True, margins_name="all")
    shares = table.div(table["all"], axis=0).drop(columns="all")
    shares["utterances"] = table["all"]
    shares["label disagrees"] = said.groupby("platform")["speaker_disagrees"].mean()
    shares.loc["all", "label disagrees"] = said["speaker_disagrees"].mean()
    return shares


def bench(count: int) -> int:
    with _prefect_home() as home:
        scenario, links = _scenario(count)
        config = SimulatorConfig(scenario=scenario, speed=SPEED)
        with serve_in_thread(config) as api_url:
            admin = api_url.split("/api/", 1)[0] + "/_simulator"
            os.environ.update(
                {
                    "MEETSTREAM_API_URL": api_url,
                    "MEETSTREAM_API_KEY": DEMO_API_KEY,
                    "MEETSTREAM_POLL_INTERVAL_SECONDS": "0.2",
                    "MEETSTREAM_POLL_MAX_INTERVAL_SECONDS": "1",
                    # Webhook mode needs a receiver URL to put in callbacks; nothing listens
                    # there (the simulator's deliveries fail), the bench polls its admin API.
                    "MEETSTREAM_WEBHOOK_URL": "http://127.0.0.1:9/webhooks/meetstream",
                    "MEETSTREAM_WEBHOOK_TOKEN_KEY": TOKEN_KEY,
                }
            )
            data = home.parent / "data"
            print(f"{count} meetings per phase (demo scripts), simulator {SPEED:g}x", flush=True)
            rows = []
            try:
                for phase in PHASES:
                    rows.append(_run_phase(phase, links[phase], admin, data))
                    print(rows[-1], flush=True)
                    if phase == "on":
                        shares = _attribution(data)
                        print(shares.to_string(), flush=True)
            finally:
                _stop_api_server()
    _report(rows, shares)
    return sum(r["failed"] for r in rows)


def _report(rows: list[dict[str, Any]], shares: pd.DataFrame) -> None:
    off, on, hook_off, hook_on = rows
    print("\nphase       meetings failed  API calls/mtg  get_transcript  list_transcr.  "
          "collect median  p90")  # fmt: skip
    for r in rows:
        print(
            f"{r['phase']:11} {r['meetings']:8d} {r['failed']:6d} {r['calls']:14.2f}"
            f" {r['get_transcript']:15.2f} {r['list_transcriptions']:14.2f}"
            f" {r['collect_median']:13.2f} s {r['collect_p90']:5.2f} s"
        )
    print(
        f"\nRESULT transcripts: API calls per meeting +{on['calls'] - off['calls']:.2f} "
        f"polling ({on['calls'] / off['calls']:.3f}x), "
        f"+{hook_on['calls'] - hook_off['calls']:.2f} webhook "
        f"({hook_on['calls'] / hook_off['calls']:.3f}x); collection wall time added by the "
        f"transcript wait, median: polling {on['collect_median'] - off['collect_median']:+.2f} s"
        f" ({on['collect_median'] / off['collect_median']:.2f}x), webhook "
        f"{hook_on['collect_median'] - hook_off['collect_median']:+.2f} s "
        f"({hook_on['collect_median'] / hook_off['collect_median']:.2f}x)"
    )
    print("\nUtterances by attribution (share of each platform's utterances)")
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print(shares.to_string())


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transcript_bench", description=__doc__)
    parser.add_argument("--meetings", type=int, default=200, help="meetings per phase")
    count = parser.parse_args(argv).meetings
    if count < 2:
        parser.error("--meetings needs at least 2")
    return 1 if bench(count) else 0


def main() -> None:
    """Entry point for `python -m bench`: a fresh process (Prefect is configured before its
    import), at QUICK_MEETINGS per phase (200 take ~30 minutes on 2 cores)."""
    command = [sys.executable, "-m", "bench.transcript_bench", "--meetings", QUICK_MEETINGS]
    done = subprocess.run(command, check=False)
    if done.returncode:
        raise SystemExit(f"transcript_bench failed (exit {done.returncode})")


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
