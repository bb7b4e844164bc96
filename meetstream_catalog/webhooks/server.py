"""`meetstream-catalog webhooks`: serve the receiver under uvicorn, wired to Prefect and the
catalog.

The signing secret comes from `MEETSTREAM_WEBHOOK_SECRET`, else the Prefect Secret block
`meetstream-webhook-secret`; without either the receiver still runs (MeetStream may send
per-bot callbacks unsigned) and says so at start. Accepted events become Prefect events on
the server of `PREFECT_API_URL` and rows of the catalog's `bot_events` table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Callable, Mapping
from typing import Any, cast

import uvicorn

from meetstream_catalog.catalog.events import append_events, event_row
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import Settings
from meetstream_catalog.webhooks.app import PATH, ReceiverConfig, create_app

SECRET_BLOCK = "meetstream-webhook-secret"  # noqa: S105 - a block name, not a secret


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8766, help="port (default 8766)")
    parser.add_argument(
        "--window-seconds",
        type=float,
        default=300.0,
        help="refuse an X-MeetStream-Timestamp further off than this (default 300)",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=64 * 1024, help="refuse larger bodies (413)"
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")


def _secret() -> str | None:
    if value := os.environ.get("MEETSTREAM_WEBHOOK_SECRET"):
        return value
    if not os.environ.get("PREFECT_API_URL"):
        return None
    from prefect.blocks.system import Secret

    try:
        block = cast("Secret[str]", Secret.load(SECRET_BLOCK))
    except ValueError:
        return None
    return str(block.get())


def _emit(event: str, resource: Mapping[str, str], payload: Mapping[str, Any]) -> None:
    from prefect.events import emit_event

    emit_event(event=event, resource=dict(resource), payload=dict(payload))


def _recorder(root: Root) -> Callable[[list[dict[str, Any]]], None]:
    def record(rows: list[dict[str, Any]]) -> None:
        now = dt.datetime.now(dt.UTC)
        append_events(root, [event_row(r, now) for r in rows])

    return record


def run(args: argparse.Namespace) -> int:
    """Receive MeetStream webhooks and turn them into Prefect events."""
    settings = Settings()
    secret = _secret()
    config = ReceiverConfig(
        secret=secret,
        max_body_bytes=args.max_body_bytes,
        window_seconds=args.window_seconds,
        emit=_emit,
        record=_recorder(settings.catalog()),
    )
    signed = "signatures checked" if secret else "NO SECRET: unsigned deliveries accepted"
    print(f"MeetStream webhook receiver on http://{args.host}:{args.port}{PATH} ({signed})")
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)
    return 0
