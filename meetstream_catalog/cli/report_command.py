"""`meetstream-catalog report BOT_ID --out FILE.svg`: one catalogued meeting's timeline as
an SVG image (`catalog.timeline`, `catalog.timeline_svg`), the same picture a meeting's
Prefect run shows.

The trap guarded against: a traceback for what is a plain answer (a bot the catalog does
not hold, a meeting without speech, a time travel target the table's log does not have):
each is one line on stderr with exit status 1 (2, from the parser, for a malformed
`--as-of`), the trace only with `--debug`.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from meetstream_catalog.cli.options import catalog_root_argument, error


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `report` subcommand."""
    p = sub.add_parser(
        "report",
        help="Draw a catalogued meeting's timeline (who spoke when, what they said) as SVG.",
        description="Write one catalogued meeting as an SVG image: a row per participant "
        "(namesakes apart by device), speech turns as bars on a time axis, utterances over "
        "them (text on hover, short labels where they fit), a red band where two or more "
        "people talk at once, and in orange the utterances whose provider label disagrees "
        "with the track. Names, times and transcript text only: no link or URL. Exit "
        "status: 0 written, 1 nothing to draw (the line says why), 2 usage error.",
    )
    p.add_argument("bot_id", help="A bot in the catalog (the id `capture` printed).")
    p.add_argument("--out", required=True, metavar="FILE.svg", help="The SVG file to write.")
    p.add_argument(
        "--as-of",
        default=None,
        type=_as_of,
        metavar="VERSION|TIMESTAMP",
        help="Time travel: read the tables at a Delta version or as they were at an ISO 8601 "
        "time (no zone means UTC).",
    )
    catalog_root_argument(p)
    p.add_argument("--debug", action="store_true", help="Show full tracebacks.")
    p.set_defaults(run=report)


def _as_of(text: str) -> str:
    """`--as-of` checked by the parser (exit status 2), passed on as given."""
    if not text.strip().isdigit():
        try:
            dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is neither a table version (12) nor an ISO 8601 time "
                "(2026-12-04T09:00:00Z)"
            ) from None
    return text


def report(args: argparse.Namespace) -> int:
    """Run `report`: write the SVG, print where and what it shows."""
    from meetstream_catalog.catalog.timeline import TimelineUnavailableError, read_timeline
    from meetstream_catalog.catalog.timeline_svg import render_svg
    from meetstream_catalog.settings import Settings

    settings = Settings()
    if args.catalog_root:
        settings = settings.model_copy(update={"catalog_root": args.catalog_root})
    try:
        timeline = read_timeline(settings.catalog(), args.bot_id, as_of=args.as_of)
        svg = render_svg(timeline).encode()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(svg)
    except TimelineUnavailableError as exc:
        return error(str(exc))
    except Exception as exc:  # any failure is one line for the user; --debug re-raises
        if args.debug:
            raise
        return error(" ".join(str(exc).split()) or type(exc).__name__)
    said = sum(len(lane.utterances) for lane in timeline.lanes)
    print(f"{out}: {len(timeline.lanes)} rows, {said} utterances ({len(svg)} bytes)")
    return 0
