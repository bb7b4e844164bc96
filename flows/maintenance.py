"""Catalog maintenance: the `maintain-catalog` flow (compaction, vacuum, checkpoints).

Wiring only; the work is `meetstream_catalog.catalog.maintenance`, for every catalog table
(`TABLES`, the webhook receiver's `bot_events` included). The trap guarded here is the one
the old nightly compaction fell into: a fleet-wide lock that a crashed holder never releases.
Maintenance takes none. Every step is one Delta commit that captures may race; a lost race
is retried inside `maintain_table`. Delta-rs blocks, so each table runs in a thread, off
the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_table_artifact

from flows.form import titled
from meetstream_catalog.catalog import maintenance as catalog_maintenance
from meetstream_catalog.catalog.schema import TABLES
from meetstream_catalog.erase.expiry import Expiry, expire_media
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import Settings
from tasks.settings import forget_stale_links

MIB = 2**20


@task(name="maintain-table")
async def maintain_table(
    catalog_root: Root,
    table: str,
    compact: bool,
    vacuum: bool,
    retention_days: float,
    target_file_size: int,
) -> catalog_maintenance.TableMaintenance:
    return await asyncio.to_thread(
        catalog_maintenance.maintain_table,
        table,
        catalog_root,
        compact=compact,
        vacuum=vacuum,
        retention_days=retention_days,
        target_file_size=target_file_size,
    )


@task(name="expire-media")
async def expire_media_files(catalog_root: Root, media_root: Root, days: float) -> Expiry:
    """Media retention (issue 21): files of meetings older than `days` deleted, rows kept."""
    done = await asyncio.to_thread(expire_media, catalog_root, media_root, older_than_days=days)
    get_run_logger().info(
        "Media retention (%g days): %d file(s) of %d meeting(s) deleted, rows kept",
        days, done.files_removed, done.meetings,
    )  # fmt: skip
    return done


@flow(name="maintain-catalog")
async def maintain_catalog(
    compact: Annotated[bool, titled("Compact small files")] = True,
    vacuum: Annotated[bool, titled("Delete replaced files")] = True,
    vacuum_retention_days: Annotated[
        float, titled("Keep replaced files for (days)")
    ] = catalog_maintenance.DEFAULT_VACUUM_RETENTION_DAYS,
    target_file_size_mib: Annotated[
        int, titled("Target file size (MiB)")
    ] = catalog_maintenance.DEFAULT_TARGET_FILE_SIZE // MIB,
    media_retention_days: Annotated[
        float, titled("Delete media older than (days; 0: the worker's setting)")
    ] = 0,
) -> list[catalog_maintenance.TableMaintenance]:
    """Compact small files (today's too), vacuum files replaced more than
    `vacuum_retention_days` ago, checkpoint and clean the log of every catalog table.
    Safe while captures commit. Returns one report per table.

    The catalog is the worker's MEETSTREAM_CATALOG_ROOT: an operator's setting, never a
    parameter a form user could point at another catalog (docs/deploy.md)."""
    settings = Settings()
    root = settings.catalog()
    reports = [
        await maintain_table(
            root,
            name,
            compact,
            vacuum,
            vacuum_retention_days,
            target_file_size_mib * MIB,
        )
        for name in TABLES
    ]
    compacted = sum(r.files_compacted for r in reports)
    vacuumed = sum(r.files_vacuumed for r in reports)
    get_run_logger().info(
        "Catalog maintenance: %d file(s) compacted, %d vacuumed", compacted, vacuumed
    )
    # This deployment's override, else the worker's MEETSTREAM_MEDIA_RETENTION_DAYS.
    days = media_retention_days or settings.media_retention_days
    if days:
        await expire_media_files(root, settings.media(), days)
    # Passcodes are not kept: link blocks a crashed fan-out run left behind go after a day.
    try:
        forgotten = await forget_stale_links()
    except Exception as exc:  # noqa: BLE001 - the tables are maintained; say so, go on
        get_run_logger().warning("Could not clean up meeting-link Secret blocks: %s", exc)
    else:
        if forgotten:
            get_run_logger().info("Deleted %d meeting-link Secret block(s)", forgotten)
    await acreate_table_artifact(
        table=[{k: ("" if v is None else v) for k, v in r.as_dict().items()} for r in reports],
        key="catalog-maintenance",
        description=f"{compacted} small file(s) compacted, {vacuumed} old file(s) vacuumed.",
    )
    return reports
