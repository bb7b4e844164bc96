"""`meetstream-catalog`: the command line, its parser and dispatch.

Each subcommand lives in its own module (`capture_commands`, `transcribe_command`,
`report_command`, `catalog_commands`, `export`, `erase_command`,
the simulator's and the webhook receiver's `server`) and imports what it needs lazily, so
`meetstream-catalog simulator` starts without paying for Prefect's import.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    from meetstream_catalog.cli import (
        capture_commands,
        catalog_commands,
        erase_command,
        export,
        meetings_command,
        report_command,
        transcribe_command,
    )
    from meetstream_catalog.cli.options import catalog_root_argument
    from meetstream_catalog.simulator import server
    from meetstream_catalog.webhooks import server as webhooks

    parser = argparse.ArgumentParser(
        prog="meetstream-catalog",
        description="Archive MeetStream per-participant media into your storage and a "
        "Parquet catalog.",
    )
    sub = parser.add_subparsers(dest="command")

    sim = sub.add_parser("simulator", help="Serve the offline MeetStream simulator.")
    server.add_arguments(sim)
    sim.set_defaults(run=server.run)

    hooks = sub.add_parser(
        "webhooks",
        help="Serve the webhook receiver (MeetStream callbacks -> Prefect events).",
        description="Receive MeetStream's webhooks on POST /webhooks/meetstream and emit "
        "Prefect events that trigger collect-bot for the bots the catalog knows. A delivery "
        "needs a valid callback token (MEETSTREAM_WEBHOOK_TOKEN_KEY) or signature "
        "(MEETSTREAM_WEBHOOK_SECRET); without either key the receiver does not start.",
    )
    webhooks.add_arguments(hooks)
    hooks.set_defaults(run=webhooks.run)

    demo = sub.add_parser("demo", help="Capture the demo meetings from the simulator.")
    demo.add_argument("--data-dir", default="data", help="Where catalog/ and media/ go.")
    demo.set_defaults(run=_demo)

    capture_commands.add_parsers(sub)
    transcribe_command.add_parser(sub)
    report_command.add_parser(sub)

    example = sub.add_parser(
        "example-meetings",
        help="Write a meeting list of the simulator's demo meetings, one due in each of the "
        "next scheduled windows (for trying capture-scheduled).",
    )
    example.add_argument(
        "output", help="The file to write, e.g. data/meetings.csv (or data/meetings.ics)."
    )
    example.add_argument(
        "--format",
        choices=("csv", "ics"),
        default="csv",
        help="csv: a meeting list; ics: an iCalendar feed with recurring meetings.",
    )
    example.add_argument(
        "--window-minutes",
        type=int,
        default=15,
        help="The schedule's interval (capture-scheduled runs every 15 minutes).",
    )
    example.set_defaults(run=_example_meetings)

    catalog_commands.add_parsers(sub)
    meetings_command.add_parser(sub)
    export.add_parser(sub, catalog_root_argument)
    erase_command.add_parsers(sub)
    return parser


def _example_meetings(args: argparse.Namespace) -> int:
    import csv
    from pathlib import Path

    from meetstream_catalog.cli.demo import DEMO_SCENARIO
    from meetstream_catalog.simulator.scenario import load_scenario

    if args.format == "ics":
        from meetstream_catalog.simulator.calendar_feed import example_calendar

        feed = Path(args.output)
        feed.parent.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        feed.write_bytes(example_calendar(now, window_minutes=args.window_minutes))
        print(f"{feed}: an iCalendar feed of recurring demo meetings from the next window")
        return 0
    window = dt.timedelta(minutes=args.window_minutes)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    first = now - dt.timedelta(minutes=now.minute % args.window_minutes) + window
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    links = list(load_scenario(DEMO_SCENARIO).meetings)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["meeting_link", "join_at", "bot_name", "request_id"])
        for number, link in enumerate(links):
            join_at = first + number * window + dt.timedelta(minutes=1)
            writer.writerow([link, join_at.isoformat(), "Scheduled Recorder", f"example-{number}"])
    print(f"{path}: {len(links)} meetings, joining from {first:%H:%M} UTC, one per window")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from meetstream_catalog.cli.demo import run_demo

    return run_demo(data_dir=args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
