"""`meetstream-catalog erase` and `meetstream-catalog erasures`: remove a meeting or a person
from every copy, and list what was removed (`meetstream_catalog.erase`).

The trap guarded against: an irreversible command run by mistake. Without `--yes` it only
lists what would go; `--yes` needs `--reason` (the request reference kept in the audit), and
a participant needs either `--bot` or an explicit `--everywhere`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from meetstream_catalog.cli.options import catalog_root_argument, error

if TYPE_CHECKING:
    from meetstream_catalog.catalog.erase_scope import Subject
    from meetstream_catalog.settings import Settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `erase` and `erasures` subcommands."""
    p = sub.add_parser(
        "erase",
        help="Erase a meeting or a person: media, rows, history, exports (dry run by default).",
        description="Erase a meeting (--bot BOT_ID), one person in one meeting (--participant "
        "NAME --bot BOT_ID) or one person in every meeting (--participant NAME --everywhere, or "
        "--participant-key KEY --everywhere) from the media files, every catalog table, the "
        "table history --as-of reads, the export folders and, for a meeting, MeetStream. "
        "Without --yes nothing changes: the command lists what would go. Re-running an "
        "interrupted erasure completes it.",
    )
    p.add_argument("--bot", metavar="BOT_ID", default=None, help="The meeting's bot id.")
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "--participant", metavar="NAME", default=None,
        help="A display name, matched like the catalog does (Unicode NFC, case and "
        "whitespace ignored): every person of that name in the meeting(s).",
    )  # fmt: skip
    who.add_argument(
        "--participant-key", metavar="KEY", default=None,
        help="A `participant_key` as the tables hold it (the normalized name).",
    )  # fmt: skip
    p.add_argument(
        "--everywhere", action="store_true", help="The person in every meeting (no --bot)."
    )
    p.add_argument("--yes", action="store_true", help="Erase (default: a dry run).")
    p.add_argument(
        "--reason", metavar="REF", default=None, help="Request reference (needed with --yes)."
    )
    p.add_argument(
        "--skip-meetstream", action="store_true",
        help="Do not delete the meeting at MeetStream (e.g. no API key here).",
    )  # fmt: skip
    p.add_argument("--media-root", default=None, help="Default: MEETSTREAM_MEDIA_ROOT.")
    catalog_root_argument(p)
    p.set_defaults(run=run_erase)

    listing = sub.add_parser("erasures", help="List the erasures and how far each got.")
    catalog_root_argument(listing)
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(run=run_erasures)


def _settings(args: argparse.Namespace) -> Settings:
    from meetstream_catalog.settings import Settings

    settings = Settings()
    update = {"catalog_root": args.catalog_root, "media_root": getattr(args, "media_root", None)}
    return settings.model_copy(update={k: v for k, v in update.items() if v})


def subject_of(args: argparse.Namespace) -> Subject | str:
    """The subject the options name, or the one-line reason they name none."""
    from meetstream_catalog.catalog.erase_scope import choose_subject

    try:
        return choose_subject(
            bot_id=args.bot,
            name=args.participant,
            key=args.participant_key,
            everywhere=args.everywhere,
        )
    except ValueError as exc:
        return str(exc)


def run_erase(args: argparse.Namespace) -> int:
    """Run `erase`: 0 listed or erased, 2 for options that name no subject, 1 on failure."""
    from meetstream_catalog.erase import format_plan, meetstream_delete, plan_erasure, run_erasure

    subject = subject_of(args)
    if isinstance(subject, str):
        return error(subject, 2)
    if args.yes and not (args.reason and args.reason.strip()):
        return error("--yes needs --reason REF (the request reference kept in the audit)", 2)
    settings = _settings(args)
    if not args.yes:
        plan = plan_erasure(settings.catalog(), subject)
        print(format_plan(plan), end="")
        print("dry run: nothing was changed (add --yes --reason REF to erase)")
        return 0
    deleting = subject.kind == "bot" and not args.skip_meetstream
    if deleting and (settings.api_key is None or not settings.api_key.get_secret_value()):
        # Before anything is removed: a meeting's erasure ends at MeetStream.
        return error("erasing a meeting deletes it at MeetStream too: set MEETSTREAM_API_KEY, "
                     "or pass --skip-meetstream", 2)  # fmt: skip
    bot_delete = meetstream_delete(settings) if deleting else None
    try:
        report = run_erasure(
            subject,
            args.reason.strip(),
            catalog=settings.catalog(),
            media=settings.media(),
            delete_at_source=bot_delete,
            say=lambda line: print(line, flush=True),
        )
    except Exception as exc:  # noqa: BLE001 - one line; the audit says where it stopped
        return error(f"erasure stopped ({type(exc).__name__}: {str(exc)[:200]}); run it again")
    print(
        f"erased: {report.files_removed} files, {report.rows_removed} rows, "
        f"{report.export_entries_removed} export entries, {len(report.purged_files)} old "
        f"data files purged (erasure id {report.erasure_id})"
    )
    for location in report.exports_unreached:
        print(f"warning: export folder not reached, clean it by hand: {location}", file=sys.stderr)
    return 0


def run_erasures(args: argparse.Namespace) -> int:
    """Run `erasures`: one line (or JSON object) per erasure, its latest state."""
    from meetstream_catalog.erase.audit_view import erasure_rows, format_erasures

    rows = erasure_rows(_settings(args).catalog())
    if args.format == "json":
        print(json.dumps(rows, indent=1, default=str))
    else:
        print(format_erasures(rows), end="")
    return 0
