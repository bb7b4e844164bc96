"""Writing one bot into the catalog: replace every row of the bot, one commit per table.

Responsibility: `write_bot` (the `bots`, `media`, `participants` and optionally `speech`,
`utterances` and `words` rows of one capture), `write_transcript` (a later transcript) and
`write_bot_row` (the `bots` row alone), on a local path or
`s3://`. The rows are built and checked here, then committed by this process's group
commit (`group_commit`), `bots` last. Plain Python, blocking: async code calls them in a
thread.

Traps guarded against: a bad row discovered halfway through the commits (every table is
built and checked, for rows of another bot and for presigned URLs, before anything is
written), and writers on many processes and machines: delta-rs commits optimistically (a
put-if-absent of the next log entry: atomic rename locally, conditional PUT on S3), lost
races are retried (`commit_retry`), and there is no shared lock a crashed writer could
leave behind.
"""

from __future__ import annotations

from collections.abc import Sequence

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog.arrow_tables import (
    bots_table,
    media_table,
    participants_table,
    speech_table,
    utterances_table,
    words_table,
)
from meetstream_catalog.catalog.group_commit import commit_bot
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.catalog.utterances import UtteranceRow, WordRow
from meetstream_catalog.roots import Root

__all__ = ["write_bot", "write_bot_row", "write_transcript"]


def write_bot(
    root: Root | str,
    *,
    bot: BotRecord,
    media: Sequence[ArchivedMedia],
    participants: Sequence[ParticipantRow],
    speech: Sequence[SpeechRow] | None = None,
    transcript: tuple[Sequence[UtteranceRow], Sequence[WordRow]] | None = None,
) -> None:
    """Replace every catalog row of `bot.bot_id` with these rows: one commit per table,
    shared with the other bots this process is committing at the same time.

    `speech=None` leaves the bot's `speech` rows as they are (an in-progress or failure row
    knows nothing about speech; skipping the table saves a commit on the hot path);
    `transcript=None` likewise leaves its `utterances` and `words` rows.

    Blocking (call it from a thread in async code). Raises ValueError for rows of another
    bot or a value that looks like a presigned URL (nothing is written then), and
    CatalogConflictError if a commit kept conflicting.
    """
    stray = sum(m.bot_id != bot.bot_id for m in media)
    stray += sum(p.bot_id != bot.bot_id for p in participants)
    stray += sum(t.bot_id != bot.bot_id for t in speech or ())
    utterances, words = transcript if transcript is not None else ((), ())
    stray += sum(u.bot_id != bot.bot_id for u in utterances)
    stray += sum(w.bot_id != bot.bot_id for w in words)
    if stray:
        raise ValueError(f"{stray} media/participant/speech/transcript rows belong to another bot")
    # Build (and guard) every table before touching storage.
    tables = {
        "bots": bots_table(bot),
        "media": media_table(media, bot.meeting_date),
        "participants": participants_table(participants, bot.meeting_date),
    }
    if speech is not None:
        tables["speech"] = speech_table(speech, bot.meeting_date)
    if transcript is not None:
        tables["utterances"] = utterances_table(utterances, bot.meeting_date)
        tables["words"] = words_table(words, bot.meeting_date)
    commit_bot(Root.at(root), bot.bot_id, tables)


def write_transcript(
    root: Root | str,
    bot: BotRecord,
    utterances: Sequence[UtteranceRow],
    words: Sequence[WordRow],
) -> None:
    """Replace the bot's `utterances` and `words` rows and then its `bots` row (a
    transcript asked for after the capture). Raises like `write_bot`."""
    if any(u.bot_id != bot.bot_id for u in utterances) or any(
        w.bot_id != bot.bot_id for w in words
    ):
        raise ValueError("transcript rows of another bot")
    tables = {
        "utterances": utterances_table(utterances, bot.meeting_date),
        "words": words_table(words, bot.meeting_date),
        "bots": bots_table(bot),
    }
    commit_bot(Root.at(root), bot.bot_id, tables)


def write_bot_row(root: Root | str, bot: BotRecord) -> None:
    """Replace only the `bots` row of `bot.bot_id` (e.g. to record a data deletion).

    Raises like `write_bot`.
    """
    commit_bot(Root.at(root), bot.bot_id, {"bots": bots_table(bot)})
