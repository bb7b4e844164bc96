"""`meetstream-catalog`: the command line.

Subcommands import what they need lazily, so `meetstream-catalog simulator` starts without
paying for Prefect's import.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    from simulator import server

    parser = argparse.ArgumentParser(
        prog="meetstream-catalog",
        description="Archive MeetStream per-participant media into your storage and a "
        "Parquet catalog.",
    )
    sub = parser.add_subparsers(dest="command")

    sim = sub.add_parser("simulator", help="Serve the offline MeetStream simulator.")
    server.add_arguments(sim)
    sim.set_defaults(run=server.run)

    demo = sub.add_parser("demo", help="Capture the demo meetings from the simulator.")
    demo.add_argument("--data-dir", default="data", help="Where catalog/ and media/ go.")
    demo.set_defaults(run=_demo)

    cap = sub.add_parser("capture", help="Capture one meeting (needs MEETSTREAM_API_KEY).")
    cap.add_argument("meeting_link")
    cap.add_argument("--bot-name", default="Meeting Recorder")
    cap.add_argument("--join-at", type=dt.datetime.fromisoformat, default=None)
    cap.add_argument("--request-id", default=None, help="Stable id: re-runs replay one bot.")
    cap.set_defaults(run=_capture)

    col = sub.add_parser("collect", help="Archive and catalogue an existing bot by id.")
    col.add_argument("bot_id")
    col.set_defaults(run=_collect)

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
    query.set_defaults(run=_query)

    tables = sub.add_parser("tables", help="Describe the catalog tables: columns, rows, files.")
    _catalog_root_argument(tables)
    tables.add_argument("--format", choices=("text", "json"), default="text")
    tables.set_defaults(run=_tables)
    return parser


def _catalog_root_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalog-root",
        default=None,
        help="Local path, file:// or s3:// URL (default: MEETSTREAM_CATALOG_ROOT or "
        "data/catalog; S3 endpoint from MEETSTREAM_S3_ENDPOINT_URL).",
    )


def _demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo(data_dir=args.data_dir)


def _capture(args: argparse.Namespace) -> int:
    from flows.capture import capture_meeting
    from tasks.request import MeetingRequest

    request = MeetingRequest(
        meeting_link=args.meeting_link,
        bot_name=args.bot_name,
        join_at=args.join_at,
        request_id=args.request_id,
    )
    result = asyncio.run(capture_meeting(request))
    print(json.dumps(result, indent=2, default=str))
    return 0


def _collect(args: argparse.Namespace) -> int:
    from flows.capture import collect_bot

    result = asyncio.run(collect_bot(args.bot_id))
    print(json.dumps(result, indent=2, default=str))
    return 0


def _catalog(args: argparse.Namespace) -> tuple[str, dict[str, object]]:
    from tasks.settings import Settings

    settings = Settings()
    return args.catalog_root or settings.catalog_root, settings.storage_options()


def _query(args: argparse.Namespace) -> int:
    from tasks import query
    from tasks.catalog_schema import TABLES

    if args.format == "parquet" and not args.output:
        print("error: --format parquet needs --output FILE", file=sys.stderr)
        return 2
    root, options = _catalog(args)
    if len(query.missing_tables(root, options)) == len(TABLES):
        print(f"warning: no catalog tables under {root}; every table is empty", file=sys.stderr)
    try:
        result = query.run_query(args.sql, root, options)
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

    from tasks import query

    root, options = _catalog(args)
    infos = query.describe_tables(root, options)
    if args.format == "json":
        print(json.dumps([dataclasses.asdict(i) for i in infos], indent=1))
    else:
        print(query.format_tables(infos), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
