"""`meetstream-catalog query`, `tables` and `catalog migrate|maintain`: the catalog's tables.

`query` needs DuckDB (the `query` extra); without it the command prints one line saying
what to install. The other commands read the Delta tables with deltalake alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from meetstream_catalog.cli.options import catalog_root_argument
from meetstream_catalog.roots import Root

if TYPE_CHECKING:
    from meetstream_catalog.settings import Settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `query`, `tables` and `catalog` subcommands."""
    query = sub.add_parser(
        "query",
        help="Run SQL over the catalog (a view per table: bots, media, participants, ...).",
        description="Run one SQL statement with DuckDB over the catalog, one view per table "
        "(`meetstream-catalog tables` lists them). Needs the 'query' extra: "
        "pip install 'meetstream-catalog[query]'.",
    )
    query.add_argument("sql", help='e.g. "select match, count(*) from participants group by 1"')
    catalog_root_argument(query)
    query.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table")
    query.add_argument("--output", default=None, help="File (or URL) for --format parquet.")
    query.add_argument(
        "--as-of",
        default=None,
        metavar="VERSION|TIMESTAMP",
        help="Time travel: read each table at a Delta version (e.g. 12) or as it was at an "
        "ISO 8601 time (e.g. 2025-03-14T09:00:00Z; no zone means UTC).",
    )
    query.set_defaults(run=run_query)

    tables = sub.add_parser(
        "tables", help="Describe the catalog tables: version, files, rows, last maintenance."
    )
    catalog_root_argument(tables)
    tables.add_argument("--format", choices=("text", "json"), default="text")
    tables.set_defaults(run=run_tables)

    group = sub.add_parser("catalog", help="Catalog administration: migrate, maintain.")
    commands = group.add_subparsers(dest="catalog_command", required=True)
    migrate = commands.add_parser(
        "migrate",
        help="Turn a catalog of the previous layout (per-bot Parquet files) into Delta tables.",
    )
    catalog_root_argument(migrate)
    migrate.set_defaults(run=run_migrate)
    maintain = commands.add_parser(
        "maintain", help="Compact, vacuum, checkpoint (what the maintain-catalog flow does)."
    )
    catalog_root_argument(maintain)
    maintain.add_argument("--no-vacuum", action="store_true", help="Only compact/checkpoint.")
    maintain.add_argument("--retention-days", type=float, default=None)
    maintain.set_defaults(run=run_maintain)


def _settings(args: argparse.Namespace) -> Settings:
    """The settings, with --catalog-root (when given) in place of MEETSTREAM_CATALOG_ROOT."""
    from meetstream_catalog.settings import Settings

    settings = Settings()
    if args.catalog_root:
        settings = settings.model_copy(update={"catalog_root": args.catalog_root})
    return settings


def run_query(args: argparse.Namespace) -> int:
    """Run `query`: 0 when printed, 1 without DuckDB, 2 for a bad statement or option."""
    from meetstream_catalog.catalog import query
    from meetstream_catalog.catalog.schema import TABLES

    if args.format == "parquet" and not args.output:
        print("error: --format parquet needs --output FILE", file=sys.stderr)
        return 2
    settings = _settings(args)
    root = settings.catalog()
    if len(query.missing_tables(root)) == len(TABLES):
        where = root.url.removeprefix("file://")  # absolute: the user sees where it looked
        print(
            f"warning: no catalog tables under {where} (set MEETSTREAM_CATALOG_ROOT or "
            "--catalog-root); every table is empty",
            file=sys.stderr,
        )
    try:
        result = query.run_query(args.sql, root, as_of=args.as_of)
        # the output file's own options (an endpoint only for an s3:// output)
        endpoint = settings.s3_endpoint_url
        output = Root.at(args.output, s3_endpoint_url=endpoint) if args.output else None
        query.write_result(
            result,
            args.format,
            sys.stdout,
            output=args.output,
            storage_options=output.options if output else None,
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


def run_tables(args: argparse.Namespace) -> int:
    """Run `tables`: each table's version, files, rows and last maintenance."""
    import dataclasses

    from meetstream_catalog.catalog import query

    infos = query.describe_tables(_settings(args).catalog())
    if args.format == "json":
        print(json.dumps([dataclasses.asdict(i) for i in infos], indent=1))
    else:
        print(query.format_tables(infos), end="")
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    """Run `catalog migrate`: per-bot Parquet files of the previous layout -> Delta tables."""
    from meetstream_catalog.catalog import migrate as catalog_migrate

    report = catalog_migrate.migrate(_settings(args).catalog())
    print(catalog_migrate.format_report(report), end="")
    return 0


def run_maintain(args: argparse.Namespace) -> int:
    """Run `catalog maintain`: compact, vacuum (unless --no-vacuum), checkpoint."""
    from meetstream_catalog.catalog import maintenance as catalog_maintenance

    days = args.retention_days
    reports = catalog_maintenance.maintain(
        _settings(args).catalog(),
        vacuum=not args.no_vacuum,
        retention_days=catalog_maintenance.DEFAULT_VACUUM_RETENTION_DAYS if days is None else days,
    )
    print(json.dumps([r.as_dict() for r in reports], indent=1))
    return 0
