"""`meetstream-catalog webhooks`: serve the receiver under uvicorn, wired to Prefect and the
catalog.

Its keys, each from its setting, else its Prefect Secret block (with `PREFECT_API_URL`):
`MEETSTREAM_WEBHOOK_TOKEN_KEY` (block `meetstream-webhook-token-key`) checks the token of
every callback URL the workers built, `MEETSTREAM_WEBHOOK_TOKEN_KEY_PREVIOUS` keeps the
tokens of the key before a rotation valid, and `MEETSTREAM_WEBHOOK_SECRET` (block
`meetstream-webhook-secret`) checks MeetStream's signature. Accepted events become
Prefect events on the server of `PREFECT_API_URL` and rows of the catalog's `bot_events`
table; the catalog's `bots` table says which bots an event may start a collection for.

The trap guarded here is an open receiver by accident: without any key it refuses to start
(one line naming the setting, exit 2); `--insecure-accept-unsigned` is the only way round,
and says so in red at start and on every delivery it lets in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import uvicorn
from pydantic import SecretStr, ValidationError

from meetstream_catalog.redaction import RedactingFilter
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import (
    PREVIOUS_TOKEN_KEY_BLOCK,
    TOKEN_KEY_BLOCK,
    WEBHOOK_SECRET_BLOCK,
    Settings,
)
from meetstream_catalog.webhooks.app import INSECURE, PATH, ReceiverConfig, create_app
from meetstream_catalog.webhooks.known import KnownBots

if TYPE_CHECKING:
    from meetstream_catalog.catalog.pending import KnownBot

NO_KEY = (
    "meetstream-catalog webhooks: no key to authenticate deliveries: set "
    "MEETSTREAM_WEBHOOK_TOKEN_KEY (the workers' callback token key; and "
    "MEETSTREAM_WEBHOOK_SECRET if MeetStream signs), or pass --insecure-accept-unsigned "
    "for a local experiment"
)

NO_API = (
    "meetstream-catalog webhooks: set PREFECT_API_URL to your Prefect server's API "
    "(e.g. http://127.0.0.1:4200/api): the receiver's events start collections there, and "
    "without it they would go to a temporary server of this process and be lost"
)
# A token key is a bearer secret for every bot's events: refuse a guessable one.
MIN_KEY_CHARS = 16


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
    parser.add_argument(
        "--limit-concurrency",
        type=int,
        default=1000,
        help="requests handled at once; more are answered 503 at once (default 1000)",
    )
    parser.add_argument(
        "--insecure-accept-unsigned",
        action="store_true",
        help="accept deliveries that carry neither a signature nor a token: for local "
        "experiments only, never on a reachable address",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")


def _key(value: SecretStr | None, block: str) -> str | None:
    """The setting's value, else the Secret block's (with a Prefect API), else None."""
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return None
    from prefect.blocks.system import Secret

    try:
        found = cast("Secret[str]", Secret.load(block))
    except ValueError:
        return None
    return str(found.get()) or None


def _emit(event: str, resource: Mapping[str, str], payload: Mapping[str, Any]) -> None:
    from prefect.events import emit_event

    emit_event(event=event, resource=dict(resource), payload=dict(payload))


def _recorder(root: Root) -> Callable[[list[dict[str, Any]]], None]:
    from meetstream_catalog.catalog.events import append_events, event_row

    def record(rows: list[dict[str, Any]]) -> None:
        now = dt.datetime.now(dt.UTC)
        append_events(root, [event_row(r, now) for r in rows])

    return record


def _bots(root: Root) -> Callable[[], Mapping[str, KnownBot]]:
    from meetstream_catalog.catalog.pending import known_bots

    return lambda: known_bots(root)


def _config(args: argparse.Namespace) -> ReceiverConfig | None:
    """The receiver's configuration; None when it has no key and may not run without."""
    settings = Settings()
    secret = _key(settings.webhook_secret, WEBHOOK_SECRET_BLOCK)
    token_keys = tuple(
        key
        for value, block in (
            (settings.webhook_token_key, TOKEN_KEY_BLOCK),
            (settings.webhook_token_key_previous, PREVIOUS_TOKEN_KEY_BLOCK),
        )
        if (key := _key(value, block))
    )
    if not (secret or token_keys or args.insecure_accept_unsigned):
        return None
    if any(len(key) < MIN_KEY_CHARS for key in token_keys):
        raise ValueError(
            f"MEETSTREAM_WEBHOOK_TOKEN_KEY (or _PREVIOUS) is shorter than {MIN_KEY_CHARS} "
            "characters: use a random one, e.g. `openssl rand -hex 32`"
        )
    root = settings.catalog()
    return ReceiverConfig(
        secret=secret,
        token_keys=token_keys,
        insecure=args.insecure_accept_unsigned,
        max_body_bytes=args.max_body_bytes,
        window_seconds=args.window_seconds,
        emit=_emit,
        record=_recorder(root),
        known=KnownBots(_bots(root)),
    )


def _proofs(config: ReceiverConfig) -> str:
    proofs = [
        *(["signatures"] if config.secret else []),
        *([f"callback tokens ({len(config.token_keys)} key(s))"] if config.token_keys else []),
    ]
    checked = " and ".join(proofs) or "nothing"
    if config.insecure:
        return f"{checked} checked; {INSECURE}: unauthenticated deliveries accepted"
    return f"{checked} checked"


def run(args: argparse.Namespace) -> int:
    """Receive MeetStream webhooks and turn them into Prefect events."""
    try:
        config = _config(args)
    except (ValidationError, ValueError) as exc:
        if args.debug:
            raise
        print(f"meetstream-catalog webhooks: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    if config is None:
        print(NO_KEY, file=sys.stderr)
        return 2
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        print(NO_API, file=sys.stderr)
        return 2
    for name in ("uvicorn.access", "uvicorn.error"):  # request lines carry the token
        logging.getLogger(name).addFilter(RedactingFilter())
    where = f"http://{args.host}:{args.port}{PATH}"
    print(f"MeetStream webhook receiver on {where} ({_proofs(config)})", flush=True)
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        limit_concurrency=args.limit_concurrency,
    )
    return 0
