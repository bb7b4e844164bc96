"""`meetstream-catalog transcribe BOT_ID`: ask MeetStream for a transcript after the meeting
and catalogue it when it is ready (`meetstream_catalog.transcribe`).

The trap guarded against: a paid run started without a provider the API documents, or for
a bot the catalog cannot attach it to; both are refused before the call, in one line.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, get_args

from meetstream_catalog.cli.options import catalog_root_argument, error
from meetstream_catalog.settings import TranscriptProvider

if TYPE_CHECKING:
    from meetstream_catalog.transcribe import Transcribed


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `transcribe` subcommand."""
    p = sub.add_parser(
        "transcribe",
        help="Ask for a bot's transcript after the meeting and catalogue it when ready.",
        description="Start a post-call transcription of a catalogued bot's stored audio "
        "(POST /bots/{id}/transcribe), wait for it (bounded by "
        "MEETSTREAM_PROCESSING_TIMEOUT_SECONDS) and replace the bot's utterances and words. "
        "A run that fails or never finishes changes nothing in the catalog. Exit status: 0 "
        "catalogued, 1 not (the line says why).",
    )
    p.add_argument("bot_id", help="A bot already in the catalog (`collect` it first).")
    p.add_argument(
        "--provider",
        choices=get_args(TranscriptProvider),
        default=None,
        help="Transcript provider (default: MEETSTREAM_TRANSCRIPT_PROVIDER).",
    )
    p.add_argument("--model", default=None, help="The provider's model (nova-3, universal-2...).")
    p.add_argument("--language", default=None, help="Language code (en, hi, ...).")
    catalog_root_argument(p)
    p.set_defaults(run=transcribe)


def transcribe(args: argparse.Namespace) -> int:
    """Run `transcribe`; prints the utterances catalogued per attribution method."""
    from meetstream_catalog.meetstream.client import MeetStreamClient
    from meetstream_catalog.meetstream.errors import MeetStreamError
    from meetstream_catalog.settings import MissingApiKeyError, Settings
    from meetstream_catalog.transcribe import transcribe_bot

    settings = Settings()
    if args.catalog_root:
        settings = settings.model_copy(update={"catalog_root": args.catalog_root})
    provider = args.provider or settings.transcript_provider
    if provider is None:
        return error("say which provider: --provider or MEETSTREAM_TRANSCRIPT_PROVIDER")
    same = provider == settings.transcript_provider
    model = args.model or (settings.transcript_model if same else None)
    language = args.language or (settings.transcript_language if same else None)

    async def run() -> Transcribed:
        async with MeetStreamClient(settings=settings) as client:
            return await transcribe_bot(
                client,
                settings,
                settings.catalog(),
                args.bot_id,
                provider=provider,
                model=model,
                language=language,
            )

    try:
        done = asyncio.run(run())
    except (LookupError, ValueError, MissingApiKeyError, MeetStreamError) as exc:
        return error(str(exc))
    if not done.catalogued:
        return error(f"transcript {done.transcript_id} of bot {done.bot_id}: {done.state}")
    methods = ", ".join(f"{n} by {m}" for m, n in done.by_method.items())
    print(f"bot {done.bot_id}: {done.utterances} utterances catalogued ({methods})")
    return 0
