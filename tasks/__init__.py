"""The Prefect tasks of one meeting's capture: thin wrappers over `meetstream_catalog`.

Each task takes the run's `CaptureJob` and the run's `Clients` (both built once, by the
flow), calls one plain function of the package and returns typed data without presigned
URLs. Prefect is imported here and in `flows/` (and, at the edges, by the CLI, which runs
flows, and the webhook receiver, which emits events).
"""

from tasks.account import list_account_bots, record_in_progress
from tasks.bot import bots_that_left, create_bot, wait_until_left
from tasks.catalog import record_failure, write_catalog
from tasks.media import archive_media, delete_at_source
from tasks.progress import IN_BATCH, progress
from tasks.settings import (
    RequestRefusedError,
    checked_request,
    load_settings,
    resolve_link,
    use_settings,
)

__all__ = [
    "IN_BATCH",
    "RequestRefusedError",
    "archive_media",
    "bots_that_left",
    "checked_request",
    "create_bot",
    "delete_at_source",
    "list_account_bots",
    "load_settings",
    "progress",
    "record_failure",
    "record_in_progress",
    "resolve_link",
    "use_settings",
    "wait_until_left",
    "write_catalog",
]
