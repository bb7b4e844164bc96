"""`meetstream-catalog`: the command line.

Subcommands import what they need lazily, so `meetstream-catalog simulator` starts without
paying for Prefect's import.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meetstream_catalog.request import MeetingRequest
    from meetstream_catalog.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    from meetstream_catalog.simulator import server

    parser = argparse.ArgumentParser(
        prog="meetstream-catalog",
        description="Archive MeetStream per-participant media into your storage and a "
        "Parquet catalog.",
    )
    sub = parser.add_subparsers(dest="command")

    sim = sub.add_parser("simulator", help="Serve the offline MeetStream simulator.")
    server.add_arguments(sim)
    sim.set_defaults(run=server.run)

    from meetstream_catalog.webhooks import server as webhooks

    hooks = sub.add_parser(
        "webhooks",
        help="Serve the webhook receiver (MeetStream callbacks -> Prefect events).",
        description="Receive MeetStream's signed webhooks on POST /webhooks/meetstream and "
        "emit Prefect events that trigger collect-bot. Secret: MEETSTREAM_WEBHOOK_SECRET.",
    )
    webhooks.add_arguments(hooks)
    hooks.set_defaults(run=webhooks.run)

    demo = sub.add_parser("demo", help="Capture the demo meetings from the simulator.")
    demo.add_argument("--data-dir", default="data", help="Where catalog/ and media/ go.")
    demo.set_defaults(run=_demo)

    cap = sub.add_parser(
        "capture",
        help="Send a bot into one meeting, wait, archive its media and catalogue it.",
        description="Capture one meeting. Needs MEETSTREAM_API_KEY (and MEETSTREAM_API_URL "
        "for the simulator). Everything is checked before a bot is created.",
    )
    cap.add_argument(
        "meeting_link",
        help="Zoom, Google Meet or Teams link, passcode included "
        "(e.g. 'https://zoom.us/j/123456789?pwd=...'); the passcode is never stored.",
    )
    cap.add_argument("--bot-name", default="Meeting Recorder", help="Name the bot joins with.")
    cap.add_argument(
        "--join-at",
        type=_aware_datetime,
        default=None,
        metavar="WHEN",
        help="When to join, ISO-8601 with a zone (2026-12-01T15:00:00+01:00); default now.",
    )
    cap.add_argument(
        "--max-meeting-minutes",
        type=int,
        default=240,
        metavar="N",
        help="The bot leaves after N minutes even if the meeting goes on (10-300; 240).",
    )
    cap.add_argument(
        "--attribute",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A label stored with the meeting in the catalog; repeat for more.",
    )
    cap.add_argument(
        "--request-id",
        default=None,
        help="Any stable text naming this request: running it again reuses its bot.",
    )
    cap.add_argument(
        "--mode",
        choices=("auto", "wait", "webhook"),
        default="auto",
        help="wait: poll until the bot leaves, then archive; webhook: end once the bot is in "
        "and let the webhook receiver start the collection; auto (default): webhook when "
        "MEETSTREAM_WEBHOOK_URL is set.",
    )
    cap.add_argument(
        "--new-bot",
        action="store_true",
        help="Send a bot even if one is already recording this meeting (its id is printed).",
    )
    _root_arguments(cap)
    cap.set_defaults(run=_capture)

    col = sub.add_parser(
        "collect",
        help="Archive and catalogue an existing bot by id (e.g. after an interrupted capture).",
    )
    col.add_argument("bot_id", nargs="?", help="The bot id that capture printed (or MeetStream's).")
    col.add_argument(
        "--pending",
        action="store_true",
        help="Collect every bot recorded in progress whose meeting should be over.",
    )
    _root_arguments(col)
    col.set_defaults(run=_collect)

    example = sub.add_parser(
        "example-meetings",
        help="Write a meeting list of the simulator's demo meetings, one due in each of the "
        "next scheduled windows (for trying capture-scheduled).",
    )
    example.add_argument("output", help="The CSV file to write, e.g. data/meetings.csv.")
    example.add_argument(
        "--window-minutes",
        type=int,
        default=15,
        help="The schedule's interval (capture-scheduled runs every 15 minutes).",
    )
    example.set_defaults(run=_example_meetings)

    query = sub.add_parser(
        "query",
        help="Run SQL over the catalog (views bots, media, participants).",
        description="Run one SQL statement with DuckDB over the catalog tables bots, media "
        "and participants. Needs the 'query' extra: pip install 'meetstream-catalog[query]'.",
    )
    query.add_argument("sql", help='e.g. "select match, count(*) from participants group by 1"')
    _catalog_root_argument(query)
    query.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table")
    query.add_argument("--output", default=None, help="File (or URL) for --format parquet.")
    query.add_argument(
        "--as-of",
        default=None,
        metavar="VERSION|TIMESTAMP",
        help="Time travel: read each table at a Delta version (e.g. 12) or as it was at an "
        "ISO 8601 time (e.g. 2025-03-14T09:00:00Z; no zone means UTC).",
    )
    query.set_defaults(run=_query)

    tables = sub.add_parser(
        "tables", help="Describe the catalog tables: version, files, rows, last maintenance."
    )
    _catalog_root_argument(tables)
    tables.add_argument("--format", choices=("text", "json"), default="text")
    tables.set_defaults(run=_tables)
    _catalog_commands(sub)
    from meetstream_catalog.cli import export

    export.add_parser(sub, _catalog_root_argument)
    return parser


def _catalog_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("catalog", help="Catalog administration: migrate, maintain.")
    commands = group.add_subparsers(dest="catalog_command", required=True)
    migrate = commands.add_parser(
        "migrate",
        help="Turn a catalog of the previous layout (per-bot Parquet files) into Delta tables.",
    )
    _catalog_root_argument(migrate)
    migrate.set_defaults(run=_migrate)
    maintain = commands.add_parser(
        "maintain", help="Compact, vacuum, checkpoint (what the maintain-catalog flow does)."
    )
    _catalog_root_argument(maintain)
    maintain.add_argument("--no-vacuum", action="store_true", help="Only compact/checkpoint.")
    maintain.add_argument("--retention-days", type=float, default=None)
    maintain.set_defaults(run=_maintain)


def _catalog_root_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalog-root",
        default=None,
        help="Local path, file:// or s3:// URL (default: MEETSTREAM_CATALOG_ROOT or "
        "data/catalog; S3 endpoint from MEETSTREAM_S3_ENDPOINT_URL).",
    )


def _root_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--media-root",
        default=None,
        help="Where media files go: a path or s3:// URL (default MEETSTREAM_MEDIA_ROOT "
        "or data/media).",
    )
    parser.add_argument(
        "--catalog-root",
        default=None,
        help="Where the catalog lives: a path or s3:// URL (default MEETSTREAM_CATALOG_ROOT "
        "or data/catalog).",
    )
    parser.add_argument(
        "--debug", action="store_true", help="Show Prefect's log and full tracebacks."
    )


def _aware_datetime(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone: add one, e.g. {text}+00:00 or {text}Z"
        )
    return value


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value


def _example_meetings(args: argparse.Namespace) -> int:
    import csv
    from pathlib import Path

    from meetstream_catalog.cli.demo import DEMO_SCENARIO
    from meetstream_catalog.simulator.scenario import load_scenario

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


def _capture(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from meetstream_catalog.request import MeetingRequest

    try:
        request = MeetingRequest.from_link(
            args.meeting_link,
            bot_name=args.bot_name,
            join_at=args.join_at,
            request_id=args.request_id,
            max_meeting_minutes=args.max_meeting_minutes,
            custom_attributes=dict(args.attribute),
        )
    except ValidationError as exc:
        return _error(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        )
    except ValueError as exc:
        return _error(str(exc))

    async def run() -> object:
        from flows.capture import capture_meeting

        return await capture_meeting(request, new_bot=args.new_bot, mode=args.mode)

    return _run_flow(args, run, request=request)


def _collect(args: argparse.Namespace) -> int:
    if bool(args.bot_id) == bool(args.pending):
        return _error("give a bot id, or --pending (not both)", 2)

    async def run() -> object:
        from flows.capture import collect_bot, collect_pending

        return await (collect_pending() if args.pending else collect_bot(args.bot_id))

    return _run_flow(args, run, request=None)


def _run_flow(
    args: argparse.Namespace,
    run: Callable[[], Coroutine[Any, Any, object]],
    *,
    request: MeetingRequest | None,
) -> int:
    """Check everything, then run the flow with live progress; one line on any failure."""
    from meetstream_catalog.request.preflight import PreflightError, preflight
    from meetstream_catalog.settings import Settings, resolve_root

    # Storage roots are settings; the flow takes these (read and checked once, here).
    roots = {"media_root": args.media_root, "catalog_root": args.catalog_root}
    settings = _settings_with_key(Settings(**{k: v for k, v in roots.items() if v}))
    try:
        asyncio.run(
            preflight(
                settings,
                media_root=resolve_root(settings.media_root),
                catalog_root=resolve_root(settings.catalog_root),
                request=request,
            )
        )
    except PreflightError as exc:
        return _error(str(exc))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's temporary API migrates a new database on first use: ~15 s on 2 cores.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not args.debug:
        # Prefect's own console lines (task states, tracebacks, its temporary server) stay
        # quiet; set through its logging settings, which survive its re-configurations.
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
    from meetstream_catalog.cli.console import progress_view
    from tasks.settings import use_settings

    with progress_view() as view, use_settings(settings, checked=True):
        try:
            result = asyncio.run(run())
        except KeyboardInterrupt:
            bot = view.bot_id
            if bot is None:
                return _error("interrupted before a bot was created; nothing to resume", 130)
            return _error(
                f"interrupted: bot {bot} is still in the meeting; resume with: "
                f"meetstream-catalog collect {bot}",
                130,
            )
        except Exception as exc:
            if args.debug:
                raise
            return _error(" ".join(str(exc).split()) or type(exc).__name__)
    from pydantic import TypeAdapter

    print(TypeAdapter(object).dump_json(result, indent=2).decode())
    return 0


def _settings_with_key(settings: Settings) -> Settings:
    """The API key from the environment, else from the Prefect Secret block when a Prefect
    server is configured (the ephemeral API has no blocks: no need to start it)."""
    if settings.api_key is not None or not os.environ.get("PREFECT_API_URL"):
        return settings
    from tasks.settings import with_secret_key

    return asyncio.run(with_secret_key(settings))


def _error(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _catalog(args: argparse.Namespace) -> tuple[str, dict[str, object]]:
    from meetstream_catalog.settings import Settings

    settings = Settings()
    return args.catalog_root or settings.catalog_root, settings.storage_options()


def _query(args: argparse.Namespace) -> int:
    from meetstream_catalog.catalog import query
    from meetstream_catalog.catalog.schema import TABLES

    if args.format == "parquet" and not args.output:
        print("error: --format parquet needs --output FILE", file=sys.stderr)
        return 2
    root, options = _catalog(args)
    if len(query.missing_tables(root, options)) == len(TABLES):
        print(f"warning: no catalog tables under {root}; every table is empty", file=sys.stderr)
    try:
        result = query.run_query(args.sql, root, options, as_of=args.as_of)
        query.write_result(
            result, args.format, sys.stdout, output=args.output, storage_options=options
        )
    except query.QueryUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except query.QueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        print(f"{result.num_rows} rows written to {args.output}", file=sys.stderr)
    return 0


def _tables(args: argparse.Namespace) -> int:
    import dataclasses

    from meetstream_catalog.catalog import query

    root, options = _catalog(args)
    infos = query.describe_tables(root, options)
    if args.format == "json":
        print(json.dumps([dataclasses.asdict(i) for i in infos], indent=1))
    else:
        print(query.format_tables(infos), end="")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from meetstream_catalog.catalog import migrate as catalog_migrate

    root, options = _catalog(args)
    report = catalog_migrate.migrate(root, storage_options=options)
    print(catalog_migrate.format_report(report), end="")
    return 0


def _maintain(args: argparse.Namespace) -> int:
    from meetstream_catalog.catalog import maintenance as catalog_maintenance

    root, options = _catalog(args)
    days = args.retention_days
    reports = catalog_maintenance.maintain(
        root,
        vacuum=not args.no_vacuum,
        retention_days=catalog_maintenance.DEFAULT_VACUUM_RETENTION_DAYS if days is None else days,
        storage_options=options,
    )
    print(json.dumps([r.as_dict() for r in reports], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
