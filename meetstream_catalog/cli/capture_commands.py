"""`meetstream-catalog capture` and `collect`: run a capture flow on the user's terminal.

Everything is checked (preflight) before a bot is created, and each failure is one line on
stderr. The traps guarded against: a terminal that says nothing for an hour (progress
lines under a spinner), and Ctrl-C that leaves a bot in the meeting without saying so (the
message names the bot and the `collect` command that resumes it).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from meetstream_catalog.cli.options import error, root_arguments

if TYPE_CHECKING:
    from meetstream_catalog.request import MeetingRequest
    from meetstream_catalog.settings import Settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `capture` and `collect` subcommands."""
    cap = sub.add_parser(
        "capture",
        help="Send a bot into one meeting, wait, archive its media and catalogue it.",
        description="Capture one meeting. Needs MEETSTREAM_API_KEY (and MEETSTREAM_API_URL "
        "for the simulator). Everything is checked before a bot is created. Running the "
        "same command again after a crash resumes its bot: it never pays for a second.",
        epilog=_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    root_arguments(cap)
    cap.set_defaults(run=capture)

    col = sub.add_parser(
        "collect",
        help="Archive and catalogue an existing bot by id (e.g. after an interrupted capture).",
        epilog=_EXIT_HELP.replace("captured (webhook", "captured (or nothing to collect; webhook"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    col.add_argument("bot_id", nargs="?", help="The bot id that capture printed (or MeetStream's).")
    col.add_argument(
        "--pending",
        action="store_true",
        help="Collect every bot recorded in progress whose meeting should be over.",
    )
    root_arguments(col)
    col.set_defaults(run=collect)

    rec = sub.add_parser(
        "reconcile",
        help="Catalogue the account's bots this catalog lacks (calendar auto-join, dashboard).",
        description="List every bot of the MeetStream account and the calendar's scheduled "
        "bots; collect each bot that left its meeting and is not in the catalog, and record "
        "those still in a meeting as in progress for `collect --pending`. Catalogued with "
        "source = 'account'.",
    )
    rec.add_argument(
        "--since", type=_aware_datetime, default=None, metavar="WHEN", help="ISO-8601; default all."
    )
    root_arguments(rec)
    rec.set_defaults(run=reconcile)


def reconcile(args: argparse.Namespace) -> int:
    """Run the `reconcile` flow in this terminal."""

    async def run() -> object:
        from flows.reconcile import reconcile_account

        return await reconcile_account(since=args.since)

    return _run_flow(args, run, request=None)


_EXIT_HELP = """exit status:
  0    captured (webhook mode: the bot is in the meeting; the receiver collects it)
  1    failed: nothing safe (the reason says why), or a setup error before any bot
  2    usage error
  3    partial: some files not archived (listed in the catalog); `collect BOT_ID`
       completes it. Also a bot whose session crashed (outcome error)
  4    nothing to archive: the bot was refused, never admitted, or saw no streams
  130  interrupted (the message names the bot and the command that resumes it)"""


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


def capture(args: argparse.Namespace) -> int:
    """Run `capture`: its exit status says the outcome (`EXIT_STATUS`)."""
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
        # pydantic prefixes a validator's own message with "Value error, ": not for people.
        return error(
            "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
        )
    except ValueError as exc:
        return error(str(exc))

    async def run() -> object:
        from flows.capture import capture_meeting

        return await capture_meeting(request, new_bot=args.new_bot, mode=args.mode)

    return _run_flow(args, run, request=request)


def collect(args: argparse.Namespace) -> int:
    """Run `collect` (one bot, or every pending one): its exit status says the outcome."""
    if bool(args.bot_id) == bool(args.pending):
        return error("give a bot id, or --pending (not both)", 2)

    async def run() -> object:
        from flows.collect import collect_bot, collect_pending

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
    from meetstream_catalog.settings import Settings

    # Storage roots are settings; the flow takes these (read and checked once, here).
    roots = {"media_root": args.media_root, "catalog_root": args.catalog_root}
    settings = _settings_with_key(Settings(**{k: v for k, v in roots.items() if v}))
    try:
        asyncio.run(
            preflight(
                settings,
                media_root=settings.media(),
                catalog_root=settings.catalog(),
                request=request,
            )
        )
    except PreflightError as exc:
        return error(str(exc))
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
                return error("interrupted before a bot was created; nothing to resume", 130)
            return error(
                f"interrupted: bot {bot} is still in the meeting; resume with: "
                f"meetstream-catalog collect {bot}",
                130,
            )
        except Exception as exc:  # any failure is one line for the user; --debug re-raises
            if args.debug:
                raise
            return error(" ".join(str(exc).split()) or type(exc).__name__)
    from pydantic import TypeAdapter

    print(TypeAdapter(object).dump_json(result, indent=2).decode())
    return exit_status(result)


# What `capture` and `collect` exit with, by outcome (README, "Exit status"). Several
# meetings (`collect --pending`): the first of 1, 3, 4 that any meeting has, else 0.
EXIT_STATUS = {
    "captured": 0,
    "in_progress": 0,  # webhook mode: the bot is in; the receiver collects it
    "failed": 1,  # nothing safe: see the reason; usage and setup errors are 1 or 2 too
    "partial": 3,  # some files archived, the others listed: `collect BOT_ID` completes it
    "error": 3,  # the bot's session crashed: what it recorded is archived
    "denied": 4,  # no recording to archive: the bot was refused, never admitted,
    "not_allowed": 4,  # or there were no streams
    "no_media": 4,
}


def exit_status(result: object) -> int:
    """The exit status of a flow's result (one meeting, or a list of them); every meeting
    not captured gets one line on stderr."""
    from meetstream_catalog.job import CaptureResult

    results = result if isinstance(result, list) else [result]
    codes = set()
    for one in results:
        if not isinstance(one, CaptureResult):
            continue
        code = EXIT_STATUS.get(one.outcome.value, 1)
        codes.add(code)
        if code:
            line = f"{one.outcome.value}: {one.meeting or 'a meeting'} (bot {one.bot_id})"
            error(f"{line}: {one.reason}" if one.reason else line)
    return next((code for code in (1, 3, 4) if code in codes), 0)


def _settings_with_key(settings: Settings) -> Settings:
    """The API key from the environment, else from the Prefect Secret block when a Prefect
    server is configured (the ephemeral API has no blocks: no need to start it)."""
    if settings.api_key is not None or not os.environ.get("PREFECT_API_URL"):
        return settings
    from tasks.settings import with_secret_key

    return asyncio.run(with_secret_key(settings))
