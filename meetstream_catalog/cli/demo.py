"""`make demo`: the capture pipeline end to end, offline, on the embedded defaults.

Starts the simulator on 127.0.0.1 with the demo scenario, runs the `capture-meetings` flow
on Prefect's ephemeral API, writes `./data/catalog` and `./data/media`, and prints what
was captured. The demo requests carry fixed request ids, so their bots (and so their
catalog files) are the same on every run: running it twice leaves the same catalog.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pandas as pd

from meetstream_catalog import simulator
from meetstream_catalog.catalog.schema import CAPTURE_TABLES, TRANSCRIPT_TABLES
from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.simulator.scenario import load_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

DEMO_SCENARIO = Path(simulator.__file__).parent / "scenarios" / "demo.yaml"
TABLES = (*CAPTURE_TABLES, *TRANSCRIPT_TABLES)
METHODS = ("track", "timeline", "provider", "none")
DEMO_SPEED = 600.0  # meeting seconds per real second: a 15-minute meeting plays in ~1.5 s


def demo_requests(links: list[str]) -> list[MeetingRequest]:
    return [
        MeetingRequest.from_link(
            link,
            bot_name="Demo Recorder",
            request_id=f"demo-{number}",
            custom_attributes={"source": "demo"},
        )
        for number, link in enumerate(links, start=1)
    ]


def run_demo(data_dir: str = "data") -> int:
    """Run the demo; returns a process exit code (1 if any meeting failed)."""
    # The demo is offline: no usage telemetry from Prefect's temporary server. Set before
    # Prefect is imported, which reads its settings once.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Warnings and errors only, so the summary below stays readable; export
    # PREFECT_LOGGING_LEVEL=INFO to watch every task run.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.capture import capture_meetings

    data = Path(data_dir).resolve()
    scenario = load_scenario(DEMO_SCENARIO)
    config = SimulatorConfig(scenario=scenario, speed=DEMO_SPEED)
    with serve_in_thread(config) as api_url:
        print(f"Simulator: {api_url}  (scenario {DEMO_SCENARIO.name}, {DEMO_SPEED:g}x)")
        print("Capturing the demo meetings through Prefect (first start of its API: ~10 s)...")
        os.environ.update(
            {
                "MEETSTREAM_API_URL": api_url,
                "MEETSTREAM_API_KEY": DEMO_API_KEY,
                "MEETSTREAM_POLL_INTERVAL_SECONDS": "0.2",
                "MEETSTREAM_POLL_MAX_INTERVAL_SECONDS": "1",
                "MEETSTREAM_MEDIA_ROOT": str(data / "media"),
                "MEETSTREAM_CATALOG_ROOT": str(data / "catalog"),
                # Every demo meeting is transcribed (the simulator's deterministic text).
                "MEETSTREAM_TRANSCRIPT_PROVIDER": "deepgram",
                "MEETSTREAM_TRANSCRIPT_MODEL": "nova-3",
                "MEETSTREAM_TRANSCRIPT_LANGUAGE": "en",
            }
        )
        results = asyncio.run(capture_meetings(demo_requests(list(scenario.meetings))))
    print_summary(str(data / "catalog"))
    failed = [r for r in results if r.outcome == "failed"]
    for result in failed:
        print(f"FAILED {result.meeting}: {result.reason}")
    return 1 if failed else 0


def print_summary(catalog_root: str) -> None:
    from meetstream_catalog.catalog import read_table

    bots = read_table("bots", catalog_root)
    people = read_table("participants", catalog_root)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("\nMeetings")
        print(
            bots[["bot_id", "platform", "final_status", "outcome", "media_files", "reason"]]
            .assign(bot_id=bots["bot_id"].str[:8], reason=bots["reason"].fillna(""))
            .to_string(index=False)
        )
        print("\nParticipants")
        table = people.merge(bots[["bot_id", "platform"]], on="bot_id")
        print(
            table[["platform", "participant_name", "match", "audio_seconds", "webcam_seconds"]]
            .sort_values(["platform", "participant_name"])
            .to_string(index=False)
        )
    print_attribution(catalog_root, bots)
    tables = ", ".join(TABLES)
    print(f"\nCatalog: {catalog_root}  (Delta tables {tables}, partitioned by meeting_date)")
    print("Query it with DuckDB, pandas or Polars (see docs/catalog.md), for example:")
    root = (
        ""
        if Path(catalog_root) == Path("data/catalog").resolve()
        else f" --catalog-root {catalog_root}"
    )
    example = "select match, count(*) from participants group by 1"
    print(f'  .venv/bin/meetstream-catalog query "{example}"{root}')


def print_attribution(catalog_root: str, bots: pd.DataFrame) -> None:
    """Utterances per platform and attribution method, and the provider labels that
    disagreed with the turns."""
    from meetstream_catalog.catalog import read_table

    said = read_table("utterances", catalog_root, columns=["bot_id", "attribution"])
    disagree = read_table("utterances", catalog_root, columns=["bot_id", "speaker_disagrees"])
    if said.empty:
        return
    said = said.merge(bots[["bot_id", "platform"]], on="bot_id")
    counts = said.pivot_table(
        index="platform", columns="attribution", values="bot_id", aggfunc="count", fill_value=0
    ).reindex(columns=list(METHODS), fill_value=0)
    disagree = disagree.merge(bots[["bot_id", "platform"]], on="bot_id")
    counts["label_disagrees"] = (
        disagree.groupby("platform")["speaker_disagrees"].sum().reindex(counts.index).fillna(0)
    ).astype(int)
    counts.loc["all"] = counts.sum()
    print("\nUtterances by attribution (who said it, decided by: track, timeline, provider label)")
    print(counts.rename_axis(columns=None).to_string())
