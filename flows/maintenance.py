"""Catalog maintenance: the nightly `compact-catalog` flow.

Wiring only; the merge itself is `tasks.compaction`. The trap guarded here is compaction
racing a capture that re-writes a bot of the same day: on `s3://` no file lock exists, so
each day is compacted while holding one slot of the Prefect global concurrency limit
`catalog-writer` (limit 1), the same limit the capture flow's catalog write holds. The flow
creates the limit if it is missing and then acquires it strictly: a typo'd or deleted limit
must fail the run, not silently skip the exclusion.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.concurrency.asyncio import concurrency

from tasks import compaction, steps
from tasks.settings import Settings, resolve_root

LOCK_TIMEOUT_SECONDS = 3600.0


@task(name="compact-day")
async def compact_day(
    catalog_root: str,
    table: str,
    day: dt.date,
    min_rows_per_group: int,
    storage_options: dict[str, Any],
) -> dict[str, Any]:
    report = await asyncio.to_thread(
        compaction.compact_day,
        catalog_root,
        table,
        day,
        min_rows_per_group=min_rows_per_group,
        storage_options=storage_options,
    )
    return report.as_dict()


@flow(name="compact-catalog")
async def compact_catalog(
    catalog_root: str | None = None,
    older_than_days: int = 1,
    min_rows_per_group: int = compaction.DEFAULT_MIN_ROWS_PER_GROUP,
) -> list[dict[str, Any]]:
    """Merge the per-bot files of every day older than `older_than_days` (UTC) into large
    files; re-running changes nothing. Returns one report per table and day."""
    logger = get_run_logger()
    settings = Settings()
    root = resolve_root(catalog_root or settings.catalog_root)
    options = settings.storage_options()
    days = await asyncio.to_thread(
        compaction.closed_days, root, older_than_days=older_than_days, storage_options=options
    )
    await steps.ensure_writer_limit()
    reports = []
    for table, day in days:
        # One day at a time, so captures can write between days.
        async with concurrency(
            compaction.CATALOG_WRITER_LIMIT, timeout_seconds=LOCK_TIMEOUT_SECONDS, strict=True
        ):
            reports.append(await compact_day(root, table, day, min_rows_per_group, options))
    counts = compaction.summarize(compaction.PartitionReport(**r) for r in reports)
    logger.info("Compaction of %d table-days: %s", len(reports), dict(counts))
    if reports:
        await acreate_table_artifact(
            table=[{k: ("" if v is None else v) for k, v in r.items()} for r in reports],
            key="catalog-compaction",
            description=f"{counts['compacted']} day(s) compacted, {counts['cleaned']} cleaned.",
        )
    return reports
