"""`meetstream-catalog query`, `tables` and `catalog migrate|maintain`: the catalog's tables.

`query` needs DuckDB (the `query` extra); without it the command prints one line saying
what to install. The other commands read the Delta tables with deltalake alone.
"""

from __future__ import annotations

import argparse
import json
import sys

from meetstream_catalog.cli.options import catalog_root_argument


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


def _catalog(args: argparse.Namespace) -> tuple[str, dict[str, object]]:
    from meetstream_catalog.settings import Settings

    settings = Settings()
    return args.catalog_root or settings.catalog_root, settings.storage_options()


def run_query(args: argparse.Namespace) -> int:
    """Run `query`: 0 when printed, 1 without DuckDB, 2 for a bad statement or option."""
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


def run_tables(args: argparse.Namespace) -> int:
    """Run `tables`: each table's version, files, rows and last maintenance."""
    import dataclasses

    from meetstream_catalog.catalog import query

    root, options = _catalog(args)
    infos = query.describe_tables(root, options)
    if args.format == "json":
        print(json.dumps([dataclasses.asdict(i) for i in infos], indent=1))
    else:
        print(query.format_tables(infos), end="")
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    """Run `catalog migrate`: per-bot Parquet files of the previous layout -> Delta tables."""
    from meetstream_catalog.catalog import migrate as catalog_migrate

    root, options = _catalog(args)
    report = catalog_migrate.migrate(root, storage_options=options)
    print(catalog_migrate.format_report(report), end="")
    return 0


def run_maintain(args: argparse.Namespace) -> int:
    """Run `catalog maintain`: compact, vacuum (unless --no-vacuum), checkpoint."""
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
