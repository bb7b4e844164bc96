"""Options several `meetstream-catalog` commands share, and the one-line error they print.

The trap guarded against: a storage root named differently by each command. Every command
that reads the catalog takes `--catalog-root`, every command that captures takes
`--media-root`, `--catalog-root` and `--debug`, worded once here.
"""

from __future__ import annotations

import argparse
import sys


def catalog_root_argument(parser: argparse.ArgumentParser) -> None:
    """Add `--catalog-root` (default: the MEETSTREAM_CATALOG_ROOT setting)."""
    parser.add_argument(
        "--catalog-root",
        default=None,
        help="Local path, file:// or s3:// URL (default: MEETSTREAM_CATALOG_ROOT or "
        "data/catalog; S3 endpoint from MEETSTREAM_S3_ENDPOINT_URL).",
    )


def root_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--media-root`, `--catalog-root` and `--debug`, for the commands that capture."""
    parser.add_argument(
        "--media-root",
        default=None,
        help="Where media files go: a path or s3:// URL (default MEETSTREAM_MEDIA_ROOT "
        "or data/media).",
    )
    parser.add_argument(
        "--catalog-root",
        default=None,
        help="Where the catalog lives: a path or s3:// URL (default MEETSTREAM_CATALOG_ROOT "
        "or data/catalog).",
    )
    parser.add_argument(
        "--debug", action="store_true", help="Show Prefect's log and full tracebacks."
    )


def error(message: str, code: int = 1) -> int:
    """Print `error: message` on stderr; returns `code`, the command's exit status."""
    print(f"error: {message}", file=sys.stderr)
    return code
