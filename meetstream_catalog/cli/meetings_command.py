"""`meetstream-catalog meetings list`: the meetings the scheduled batch would capture.

A person checks a feed (or a CSV) before deploying it: one line per occurrence in the
window, with the meeting's address (never its passcode) and the list's location redacted
the way the batch's logs show it (an http(s) feed's path is a credential).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from meetstream_catalog.cli.options import error

_COLUMNS = ("start", "platform", "title", "link", "uid")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `meetings list`."""
    meetings = sub.add_parser("meetings", help="Check a meeting list or calendar feed.")
    verbs = meetings.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser(
        "list",
        help="Print the meetings the scheduled batch would capture in a window.",
        description="Print the meetings of SOURCE (a CSV/JSON/Parquet list or an iCalendar "
        "feed: a path, http(s):// or s3:// URL) whose join time is in [--start, --end), as "
        "the scheduled batch would capture them: recurring events expanded, cancelled, "
        "declined and free events and the MEETSTREAM_CALENDAR_* rules applied.",
    )
    listing.add_argument("source", help="The meeting list or feed (MEETSTREAM_MEETINGS_URL).")
    listing.add_argument("--start", type=_moment, default=None, help="ISO-8601; default now.")
    listing.add_argument(
        "--end", type=_moment, default=None, help="ISO-8601; default a day after --start."
    )
    listing.add_argument("--format", choices=("json", "table"), default="json")
    listing.set_defaults(run=_list)


def _moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _list(args: argparse.Namespace) -> int:
    from meetstream_catalog.request.calendar import CalendarRules
    from meetstream_catalog.request.meeting_list import MeetingListError
    from meetstream_catalog.request.sources import meetings_between
    from meetstream_catalog.roots import Root
    from meetstream_catalog.settings import Settings

    settings = Settings()
    start = args.start or dt.datetime.now(dt.UTC)
    end = args.end or start + dt.timedelta(days=1)
    if end <= start:
        return error("--end must be after --start")
    try:
        listing = meetings_between(
            args.source,
            start=start,
            end=end,
            rules=CalendarRules.of(settings),
            storage_options=Root.at(args.source, s3_endpoint_url=settings.s3_endpoint_url).options,
        )
    except MeetingListError as exc:
        return error(str(exc))
    rows = [m.row() for m in listing.meetings]
    if args.format == "json":
        for row in rows:
            print(json.dumps(row))
    else:
        _table(rows)
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(listing.skipped.items()))
    print(
        f"{len(rows)} meeting(s) of {listing.listed} listed"
        + (f"; skipped: {skipped}" if skipped else ""),
        file=sys.stderr,
    )
    return 0


def _table(rows: list[dict[str, str]]) -> None:
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in _COLUMNS}
    print("  ".join(c.upper().ljust(widths[c]) for c in _COLUMNS).rstrip())
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in _COLUMNS).rstrip())
