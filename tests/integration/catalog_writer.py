"""A catalog writer process for the concurrency tests: `write_bot` for each bot named.

    python tests/integration/catalog_writer.py ROOT [--endpoint URL] [--tag T] BOT...

Each bot gets `media_count(bot)` media rows and as many participants, all keyed with the
tag (so a test can tell which writer's rows a table holds). After each bot's three commits
it prints `ok <bot>` and flushes: what it printed is acknowledged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import zlib

DAY = dt.date(2025, 3, 14)


def media_count(bot_id: str) -> int:
    """Rows per bot, the same in every writer (overlapping writers write equal rows)."""
    return 1 + zlib.crc32(bot_id.encode()) % 4


def write(root: str, bot_id: str, tag: str, options: dict[str, object] | None) -> None:
    from meetstream_catalog.archive.files import ArchivedMedia
    from meetstream_catalog.catalog import write_bot
    from meetstream_catalog.catalog.join import ParticipantRow
    from meetstream_catalog.catalog.records import BotRecord
    from meetstream_catalog.roots import Root

    n = media_count(bot_id)
    media = [
        ArchivedMedia(
            bot_id=bot_id,
            kind="audio",
            participant_name=f"P{i}",
            key=f"{bot_id}/{tag}/{i}.wav",
            storage_uri=f"s3://media/{bot_id}/{tag}/{i}.wav",
            bytes=i,
            sha256=f"{i:064d}",
        )
        for i in range(n)
    ]
    people = [
        ParticipantRow(
            bot_id=bot_id,
            participant_key=f"p{i}",
            participant_name=f"P{i}",
            match="both",
            audio_key=f"{bot_id}/{tag}/{i}.wav",
        )
        for i in range(n)
    ]
    bot = BotRecord(bot_id=bot_id, meeting_date=DAY, run_id=tag)
    write_bot(Root(root, options or {}), bot=bot, media=media, participants=people)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("bots", nargs="+")
    parser.add_argument("--endpoint", default=None)
    parser.add_argument("--tag", default="w")
    args = parser.parse_args()
    options = {"client_kwargs": {"endpoint_url": args.endpoint}} if args.endpoint else None
    for bot_id in args.bots:
        write(args.root, bot_id, args.tag, options)
        print(f"ok {bot_id}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
