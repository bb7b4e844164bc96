"""`meetstream-catalog export FORMAT OUT [--where SQL]`: the catalog as speech datasets.

Without DuckDB (the `query` extra) the command prints one line saying what to install, as
`query` does, instead of a traceback: the export package imports DuckDB only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any, catalog_root_argument: Any) -> None:
    """Register the `export` subcommand."""
    export = sub.add_parser(
        "export",
        help="Export per-speaker audio, speech turns and transcripts: lhotse, audiofolder, "
        "rttm, nemo or ctm.",
        description="lhotse: recordings.jsonl.gz + supervisions.jsonl.gz (with the "
        "transcript's text); audiofolder: Hugging Face AudioFolder (metadata.jsonl + files); "
        "rttm: one RTTM and one UEM file per meeting, and a pyannote.database database.yml "
        "with speaker-disjoint train/development/test lists; nemo: a NeMo ASR "
        "manifest.jsonl, one line per utterance on its speaker's own track; ctm: one NIST "
        "CTM file of timed words per meeting. Streams one meeting at a time. Needs the "
        "'query' extra (DuckDB).",
    )
    export.add_argument("format", choices=("lhotse", "audiofolder", "rttm", "nemo", "ctm"))
    export.add_argument("out", help="Output directory (created).")
    export.add_argument(
        "--where", default=None, metavar="SQL", help="Condition on the bots table, e.g. "
        "\"platform = 'zoom' and meeting_date >= '2025-03-01'\"."
    )  # fmt: skip
    export.add_argument(
        "--link", action="store_true", help="audiofolder: symlink local files, do not copy."
    )
    catalog_root_argument(export)
    export.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `export`: 0 when written, 1 without DuckDB, 2 when the catalog cannot be read."""
    from meetstream_catalog.catalog.query import QueryError, QueryUnavailableError
    from meetstream_catalog.export import export
    from meetstream_catalog.export.diarization import PROTOCOL_NAME
    from meetstream_catalog.settings import Settings

    settings = Settings()
    if args.catalog_root:
        settings = settings.model_copy(update={"catalog_root": args.catalog_root})
    try:
        summary = export(
            args.format,
            args.out,
            settings.catalog(),
            where=args.where,
            media=settings.media(),
            link=args.link,
        )
    except QueryUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except QueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{summary.format}: {summary.meetings} meetings, {summary.recordings} recordings, "
        f"{summary.supervisions} {_units(summary.format)}, "
        f"{summary.files} files ({summary.bytes / 1e6:.1f} MB) "
        f"-> {args.out}"
    )
    if summary.subsets:
        counts = ", ".join(f"{name} {n}" for name, n in summary.subsets.items())
        print(f"database.yml: {PROTOCOL_NAME}, meetings {counts}")
    return 0


def _units(fmt: str) -> str:
    return {"nemo": "utterances", "ctm": "words"}.get(fmt, "turns")
