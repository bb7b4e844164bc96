"""Who an erasure removes, and each table's rows of them: the erase predicates.

Responsibility: `Subject` (a bot; a participant of one bot; a participant everywhere),
`ERASE_ORDER` (the order the tables lose their rows) and, per table, the subject's rows as
a delta-rs SQL predicate (`sql_predicate`) and as a pyarrow filter (`arrow_filter`, the
same condition, for counting rows and finding them in old data files). Pure: no I/O.

Traps guarded against:
- a catalog inconsistent between two commits: rows go from the tables that point at others
  to the ones they point at (`words` -> `utterances` -> `speech` -> `participants`, whose
  `audio_key` names a `media` row, -> `media`), and the `bots` row last, so no row ever
  names a row already gone; `media` rows go before their files (see `meetstream_catalog.erase`);
- a person left in a shared recording: a participant's erasure also removes the meeting's
  mixed audio and composite video (`SHARED_KINDS`), which carry their voice and face;
- a table forgotten: every table of `TABLES` is either in `ERASE_ORDER` or in
  `NOT_ERASED`, with the reason (a unit test holds every table to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow.dataset as ds

from meetstream_catalog.catalog.names import normalize_name
from meetstream_catalog.catalog.replace import sql_literal

__all__ = [
    "ERASE_ORDER",
    "NOT_ERASED",
    "PARTICIPANT_TABLES",
    "SHARED_KINDS",
    "Subject",
    "arrow_filter",
    "choose_subject",
    "sql_predicate",
]

# Tables with a `participant_key` column: a participant's rows in them are erased.
PARTICIPANT_TABLES = ("words", "utterances", "speech", "participants", "media")
# Every table that holds a bot's rows, in the order an erasure deletes them: `bots` last.
ERASE_ORDER = (*PARTICIPANT_TABLES, "bot_events", "bots")
NOT_ERASED = {
    "intents": "the create request (redacted link, bot name): no meeting data, and what "
    "keeps a re-run from creating a second bot",
    "exports": "the audit of export runs: ids and participant digests only",
    "erasures": "the audit of erasures: ids and participant digests only",
}
# Recordings of the whole meeting: everyone in it is in them.
SHARED_KINDS = ("mixed_audio", "composite_video")


@dataclass(frozen=True)
class Subject:
    """Who is erased: `bot_id` alone (a meeting), `participant_key` with `bot_id` (one
    person in one meeting) or `participant_key` alone (one person in every meeting)."""

    bot_id: str | None = None
    participant_key: str | None = None

    def __post_init__(self) -> None:
        if self.bot_id is None and self.participant_key is None:
            raise ValueError("an erasure needs a bot id, a participant key, or both")
        for value in (self.bot_id, self.participant_key):
            if value is not None:
                sql_literal(value)  # raises ValueError for a NUL character

    @property
    def kind(self) -> str:
        """`bot`, `participant` (in one bot) or `participant_everywhere`."""
        if self.participant_key is None:
            return "bot"
        return "participant" if self.bot_id is not None else "participant_everywhere"

    def tables(self) -> tuple[str, ...]:
        """The tables this subject has rows in, in erase order (`bots` is rewritten, not
        deleted from, for a participant: see `meetstream_catalog.catalog.erase_rows`)."""
        return ERASE_ORDER if self.kind == "bot" else PARTICIPANT_TABLES


def choose_subject(
    *,
    bot_id: str | None = None,
    name: str | None = None,
    key: str | None = None,
    everywhere: bool = False,
) -> Subject:
    """The subject a user named: a bot; a display `name` (normalized like the tables'
    `participant_key`) or a `key` with the bot; or either with `everywhere`.

    Raises ValueError with one line saying what is missing or contradictory.
    """
    bot_id = bot_id.strip() if bot_id and bot_id.strip() else None
    if name is not None and key is not None:
        raise ValueError("give a participant's name or key, not both")
    person = normalize_name(name) if name is not None else key
    if everywhere and bot_id:
        raise ValueError("--everywhere and --bot exclude each other")
    if everywhere and person is None:
        raise ValueError("--everywhere needs --participant NAME or --participant-key KEY")
    if person is not None and not (bot_id or everywhere):
        raise ValueError("a participant needs --bot BOT_ID (one meeting) or --everywhere")
    if person is None and not bot_id:
        raise ValueError("say what to erase: --bot BOT_ID, optionally with --participant NAME")
    if person == "":
        raise ValueError("the participant's name is empty")
    return Subject(bot_id=bot_id, participant_key=person)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(sql_literal(v) for v in values)})"


def sql_predicate(subject: Subject, table: str, bot_ids: Sequence[str] = ()) -> str:
    """The delta-rs predicate of `subject`'s rows in `table`.

    `bot_ids` are the meetings a participant is in (their shared recordings go too).
    """
    if subject.participant_key is None:
        return f"bot_id = {sql_literal(str(subject.bot_id))}"
    person = f"participant_key = {sql_literal(subject.participant_key)}"
    if subject.bot_id is not None:
        bot = f"bot_id = {sql_literal(subject.bot_id)}"
        if table == "media":
            return f"{bot} AND ({person} OR {_in('kind', SHARED_KINDS)})"
        return f"{bot} AND {person}"
    if table == "media" and bot_ids:
        return f"{person} OR ({_in('bot_id', bot_ids)} AND {_in('kind', SHARED_KINDS)})"
    return person


def arrow_filter(subject: Subject, table: str, bot_ids: Sequence[str] = ()) -> ds.Expression:
    """`sql_predicate` as a pyarrow filter."""
    if subject.participant_key is None:
        return ds.field("bot_id") == subject.bot_id
    person = ds.field("participant_key") == subject.participant_key
    shared = ds.field("kind").isin(list(SHARED_KINDS))
    if subject.bot_id is not None:
        bot = ds.field("bot_id") == subject.bot_id
        return bot & (person | shared) if table == "media" else bot & person
    if table == "media" and bot_ids:
        return person | (ds.field("bot_id").isin(list(bot_ids)) & shared)
    return person
