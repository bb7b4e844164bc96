"""A transcript asked for after the capture: `meetstream-catalog transcribe BOT_ID`.

For a bot already in the catalog (captured before transcripts were enabled, one whose
transcript failed, or to try another provider): start a run (`POST /bots/{id}/transcribe`),
wait for it within the processing deadline, attribute it against the bot's catalogued
`speech` and `participants` rows, and replace the bot's `utterances` and `words` and the
`transcript*` columns of its `bots` row.

Traps guarded against:
- paying for a run that cannot be catalogued: the bot's `bots` row is read first;
- losing a good transcript to a failed re-run: a run that fails, stays 202 or is unknown
  changes nothing in the catalog (the result says what happened);
- the run is started once: `/transcribe` is not idempotent, so it is never retried.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pyarrow.dataset as ds

from meetstream_catalog import catalog, retention
from meetstream_catalog.catalog import utterances
from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.meetstream.manifests import fetch_transcript
from meetstream_catalog.meetstream.transcripts import TranscriptState, provider_config
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import Settings


@dataclass(frozen=True)
class Transcribed:
    """What became of one `transcribe` request."""

    bot_id: str
    transcript_id: str
    state: TranscriptState
    utterances: int = 0
    by_method: dict[str, int] = field(default_factory=dict)

    @property
    def catalogued(self) -> bool:
        return self.state in ("available", "empty")


async def transcribe_bot(
    client: MeetStreamClient,
    settings: Settings,
    catalog_root: Root,
    bot_id: str,
    *,
    provider: str,
    model: str | None = None,
    language: str | None = None,
) -> Transcribed:
    """Transcribe a catalogued bot again and catalogue the result when it is ready.

    Raises LookupError if the bot has no `bots` row, ValueError for a provider or model the
    API does not document, and the client's errors for the `/transcribe` call itself.
    """
    config = provider_config(provider, model=model, language=language)
    bot = await asyncio.to_thread(retention.committed_bot, catalog_root, bot_id)
    if bot is None:
        raise LookupError(f"bot {bot_id} is not in the catalog: collect it first")
    made = await client.transcribe(bot_id, provider=config)
    every = (settings.poll_interval_seconds, settings.poll_max_interval_seconds)
    transcript, state = await fetch_transcript(
        client, bot_id, made.transcript_id, settings.processing_timeout_seconds, every
    )
    if transcript is None:
        return Transcribed(bot_id, made.transcript_id, state)
    people, turns = await asyncio.to_thread(_catalogued_people, catalog_root, bot_id)
    said, words = utterances.attribute(
        bot_id,
        transcript,
        speakers=people,
        turns=turns,
        provider=made.provider or provider,
        transcript_id=made.transcript_id,
    )
    record = bot.model_copy(
        update={
            "transcript": state,
            "transcript_id": made.transcript_id,
            "transcript_provider": made.provider or provider,
            "utterances": len(said),
        }
    )
    await asyncio.to_thread(catalog.write_transcript, catalog_root, record, said, words)
    counts = utterances.attribution_counts(said)
    return Transcribed(bot_id, made.transcript_id, state, len(said), counts)


def _catalogued_people(
    root: Root, bot_id: str
) -> tuple[list[utterances.Speaker], list[utterances.Spoken]]:
    """The bot's `participants` and `speech` rows as attribution evidence. Blocking."""
    mine = ds.field("bot_id") == bot_id
    people = catalog.dataset("participants", root).to_table(filter=mine).to_pylist()
    turns = catalog.dataset("speech", root).to_table(filter=mine).to_pylist()
    return utterances.speakers_from(people), utterances.turns_from(turns)
