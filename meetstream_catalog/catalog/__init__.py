"""The catalog's three Delta Lake tables: replace one bot's rows, read a table back.

Responsibility: `<root>/<table>/` (`bots`, `media`, `participants`) are Delta tables written
and read with `deltalake` (delta-rs), partitioned by `meeting_date`, on a local path or
`s3://`. `write_bot` replaces every row of one bot with one commit per table; readers see a
consistent snapshot (optionally an older one: time travel). Plain Python: no Prefect.

Traps guarded against:
- duplicated rows on re-runs, or rows left on the old day when a bot's meeting date
  changes: each table gets one overwrite-by-predicate on `bot_id`, which removes the bot's
  rows wherever they are and adds the new ones in a single atomic commit;
- a reader seeing a bot without its media: `media` and `participants` commit before `bots`,
  so a bot listed in `bots` has its other rows committed (a crash in between leaves the
  previous version of the bot, or no bot, in `bots`; the next run completes it);
- writers on many processes and machines: delta-rs commits optimistically (a put-if-absent
  of the next log entry: atomic rename locally, conditional PUT on S3) and retries most
  conflicts itself; those that reach Python are retried here with bounded, jittered backoff.
  There is no shared lock: a crashed writer leaves nothing to release;
- a process fighting itself: delta-rs retries a lost race at once, so N writers that
  commit together cost ~N^2/2 attempts (each a listing, a read and a conditional PUT).
  Within one process, bots are committed by one thread at a time, and that thread takes
  every bot queued meanwhile into the same commits (group commit: `_commit`): 50 meetings
  ending together in one process cost a few commits per table, not 50. The lock lives and
  dies with the process; only processes race each other;
- an id that breaks the predicate: ids are quoted as SQL string literals (`'` doubled);
- s3fs and delta-rs configured apart: `delta_storage_options` derives delta-rs' options
  from the same fsspec dict (`Settings.storage_options()`) and the AWS_* environment.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.schema import (
    PARTITION,
    SCHEMA_VERSION,
    TABLE_SCHEMAS,
    BotRecord,
    bot_record,
    bots_table,
    media_table,
    participants_table,
    speech_table,
)
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.meetstream.models import ArchivedMedia
from meetstream_catalog.settings import resolve_root

__all__ = [
    "TABLE_PROPERTIES",
    "AsOf",
    "BotRecord",
    "CatalogConflictError",
    "RetryPolicy",
    "bot_record",
    "dataset",
    "delta_storage_options",
    "existing_media_checksums",
    "open_table",
    "read_table",
    "retry_conflicts",
    "table_uri",
    "write_bot",
    "write_bot_row",
]

# A pyarrow Expression, or DNF tuples as pyarrow.parquet takes them.
Filters = Any
# A table version, or a point in time (datetime, or ISO 8601 text; naive means UTC).
AsOf = int | str | datetime | None
T = TypeVar("T")

# bots last: its row vouches for the others
WRITE_ORDER = ("media", "participants", "speech", "bots")
SCHEMA_VERSION_KEY = "meetstream.schema_version"
_WRITER = WriterProperties(compression="ZSTD")
# Delta-rs retries conflicts it can resolve itself (e.g. appends to other files) this often.
_COMMIT = CommitProperties(
    custom_metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION)}, max_commit_retries=20
)
# Every commit re-reads the statistics of each live file of the snapshot: with delta-rs'
# default (the first 32 columns) that is ~0.5 ms per file per commit, with `bot_id` only
# ~0.17 ms (measured, 160 files). Only `bot_id` is ever used to skip files: by the write
# predicate and by `existing_media_checksums`; `meeting_date` is a partition, not a stat.
#
# A checkpoint every 10 commits (Spark Delta's default; delta-rs' is 100): a process that
# opens a table reads the last checkpoint plus the commits after it, and every flow run of a
# fleet opens the tables afresh. With delta-rs' 100, opening the tables on S3 replayed up to
# 100 commit files each, quadratic over a busy day between two maintenance runs: 81% of all
# S3 requests in the scale-out test (12,148 of 15,002 for 24 meetings).
TABLE_PROPERTIES = {
    "delta.dataSkippingStatsColumns": "bot_id",
    "delta.checkpointInterval": "10",
}
_CONFLICT_WORDS = ("conflict", "concurrent", "already exists", "transaction failed")


class CatalogConflictError(RuntimeError):
    """A commit still conflicted after every retry; the message names table and bot.

    Nothing of the failed commit is visible; re-running the step is safe.
    """


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff for commits that lost a race."""

    attempts: int = 8
    base_seconds: float = 0.05
    max_seconds: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def pause(self, attempt: int) -> float:
        return self.rng() * min(self.max_seconds, self.base_seconds * 2.0**attempt)


DEFAULT_RETRY = RetryPolicy()


def is_conflict(error: BaseException) -> bool:
    """Whether `error` is a lost optimistic-concurrency race (safe to retry as is)."""
    if isinstance(error, CommitFailedError):
        return True
    text = str(error).lower()
    return isinstance(error, DeltaError) and any(w in text for w in _CONFLICT_WORDS)


def retry_conflicts(
    action: Callable[[], T], *, what: str, policy: RetryPolicy = DEFAULT_RETRY
) -> T:
    """Run `action`, retrying commit conflicts; raise CatalogConflictError naming `what`."""
    for attempt in range(policy.attempts):
        try:
            return action()
        except DeltaError as exc:
            if not is_conflict(exc):
                raise
            if attempt + 1 == policy.attempts:
                raise CatalogConflictError(
                    f"{what}: commit still conflicted after {policy.attempts} attempts: {exc}"
                ) from exc
            policy.sleep(policy.pause(attempt))
    raise AssertionError("unreachable: policy.attempts must be >= 1")


def table_uri(name: str, root: str) -> str:
    """`file:///abs/root/<name>` or `s3://bucket/prefix/<name>`."""
    return f"{resolve_root(root)}/{name}"


def delta_storage_options(
    storage_options: Mapping[str, Any] | None, root: str = "s3://"
) -> dict[str, str] | None:
    """delta-rs options from the fsspec dict of `Settings.storage_options()` plus AWS_* env.

    None for local roots. An `http://` endpoint (MinIO, moto) needs AWS_ALLOW_HTTP.
    """
    if not resolve_root(root).startswith("s3://"):
        return None
    fsspec_opts = dict(storage_options or {})
    endpoint = fsspec_opts.get("client_kwargs", {}).get("endpoint_url") or fsspec_opts.get(
        "endpoint_url"
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    found = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true" if str(endpoint or "").startswith("http://") else None,
        "AWS_REGION": region or ("us-east-1" if endpoint else None),
        "AWS_ACCESS_KEY_ID": fsspec_opts.get("key") or os.environ.get("AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": fsspec_opts.get("secret")
        or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        "AWS_SESSION_TOKEN": fsspec_opts.get("token") or os.environ.get("AWS_SESSION_TOKEN"),
    }
    return {k: str(v) for k, v in found.items() if v}


def sql_literal(value: str) -> str:
    """`value` as a SQL string literal for a delta-rs predicate."""
    if "\x00" in value:
        raise ValueError("a NUL character cannot be part of a catalog key")
    return "'" + value.replace("'", "''") + "'"


class _Handles(threading.local):
    """This thread's open writer handles, `{(table uri, options): DeltaTable}`."""

    def __init__(self) -> None:
        self.tables: dict[tuple[str, str], DeltaTable] = {}


_HANDLES = _Handles()


@dataclass
class _Queued:
    """One bot's rows waiting for this process's committer."""

    bot_id: str
    tables: dict[str, pa.Table]
    done: bool = False
    error: BaseException | None = None


_QUEUES: dict[tuple[str, str], list[_Queued]] = {}
_COMMITTERS: dict[tuple[str, str], threading.Lock] = {}
_QUEUES_GUARD = threading.Lock()


def _writer_handle(uri: str, options: dict[str, str] | None) -> DeltaTable | None:
    """This thread's handle on `uri`, brought up to date (None: no table yet).

    Opening a table reads its last checkpoint and replays the log after it; a handle kept
    open only reads the commits made since it last looked. Handles are per thread because
    a DeltaTable is mutable state that concurrent writers must not share.
    """
    key = (uri, json.dumps(options, sort_keys=True))
    table = _HANDLES.tables.get(key)
    if table is not None:
        try:
            table.update_incremental()
            return table
        except DeltaError:  # e.g. the log entries after it were cleaned up: reopen
            del _HANDLES.tables[key]
    try:
        table = DeltaTable(uri, storage_options=options)
    except TableNotFoundError:
        return None
    _HANDLES.tables[key] = table
    return table


def _replace_rows(
    name: str, root: str, bot_ids: Sequence[str], data: pa.Table, options: Any
) -> None:
    """One commit to table `name`: remove every row of `bot_ids`, add `data`."""
    uri = table_uri(name, root)
    quoted = ", ".join(sql_literal(b) for b in bot_ids)
    predicate = f"bot_id = {quoted}" if len(bot_ids) == 1 else f"bot_id IN ({quoted})"

    def write(table: DeltaTable | None) -> None:
        write_deltalake(
            uri if table is None else table,
            data,
            mode="overwrite",
            predicate=predicate,
            partition_by=[PARTITION],
            schema_mode="merge",
            configuration=TABLE_PROPERTIES,  # applied when this commit creates the table
            storage_options=options,
            writer_properties=_WRITER,
            commit_properties=_COMMIT,
        )

    def commit() -> None:
        table = _writer_handle(uri, options)
        try:
            write(table)
        except DeltaError as exc:
            if table is None or is_conflict(exc):
                raise
            # A kept handle can describe a table since deleted or re-created under the same
            # URI (its files are gone): forget it and try once more on a fresh open.
            _HANDLES.tables.pop((uri, json.dumps(options, sort_keys=True)), None)
            write(_writer_handle(uri, options))

    who = f"bot {bot_ids[0]!r}" if len(bot_ids) == 1 else f"{len(bot_ids)} bots"
    retry_conflicts(commit, what=f"catalog table {name!r}, {who}")


def _commit(root: str, options: Any, bot_id: str, tables: dict[str, pa.Table]) -> None:
    """Commit one bot's rows, in WRITE_ORDER, together with whatever this process queued.

    Group commit: the thread holding the root's committer lock commits every bot queued
    so far (a bot at most once per group) in one commit per table; the others wait, find
    their rows committed, and return. A failed group is retried bot by bot, so one bot's
    bad rows never fail another's.
    """
    key = (root, json.dumps(options, sort_keys=True))
    mine = _Queued(bot_id, tables)
    with _QUEUES_GUARD:
        _QUEUES.setdefault(key, []).append(mine)
        committer = _COMMITTERS.setdefault(key, threading.Lock())
    with committer:
        while not mine.done:
            with _QUEUES_GUARD:
                queue, group, taken = _QUEUES[key], list[_Queued](), set[str]()
                while queue and queue[0].bot_id not in taken:
                    taken.add(queue[0].bot_id)
                    group.append(queue.pop(0))
            _commit_group(root, options, group)
    if mine.error is not None:
        raise mine.error


def _commit_group(root: str, options: Any, group: list[_Queued]) -> None:
    try:
        for name in WRITE_ORDER:
            members = [q for q in group if name in q.tables]
            if members:
                data = pa.concat_tables([q.tables[name] for q in members])
                _replace_rows(name, root, [q.bot_id for q in members], data, options)
    except Exception as exc:  # noqa: BLE001 - handed to the caller of each bot
        if len(group) == 1:
            group[0].error = exc
        else:
            for queued in group:
                _commit_group(root, options, [queued])
    finally:
        for queued in group:
            queued.done = True


def write_bot(
    root: str,
    *,
    bot: BotRecord,
    media: Sequence[ArchivedMedia],
    participants: Sequence[ParticipantRow],
    speech: Sequence[SpeechRow] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Replace every catalog row of `bot.bot_id` with these rows: one commit per table,
    shared with the other bots this process is committing at the same time.

    `speech=None` leaves the bot's `speech` rows as they are (an in-progress or failure row
    knows nothing about speech; skipping the table saves a commit on the hot path).

    Blocking (call it from a thread in async code). Raises ValueError for rows of another
    bot or a value that looks like a presigned URL (nothing is written then), and
    CatalogConflictError if a commit kept conflicting.
    """
    stray = sum(m.bot_id != bot.bot_id for m in media)
    stray += sum(p.bot_id != bot.bot_id for p in participants)
    stray += sum(t.bot_id != bot.bot_id for t in speech or ())
    if stray:
        raise ValueError(f"{stray} media/participant/speech rows belong to another bot")
    # Build (and guard) all three tables before touching storage.
    tables = {
        "bots": bots_table(bot),
        "media": media_table(media, bot.meeting_date),
        "participants": participants_table(participants, bot.meeting_date),
    }
    if speech is not None:
        tables["speech"] = speech_table(speech, bot.meeting_date)
    _commit(root, delta_storage_options(storage_options, root), bot.bot_id, tables)


def write_bot_row(
    root: str, bot: BotRecord, storage_options: Mapping[str, Any] | None = None
) -> None:
    """Replace only the `bots` row of `bot.bot_id` (e.g. to record a data deletion)."""
    options = delta_storage_options(storage_options, root)
    _commit(root, options, bot.bot_id, {"bots": bots_table(bot)})


def _as_of(value: AsOf) -> int | datetime | None:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(value)
        value = datetime.fromisoformat(value.strip())
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def open_table(
    name: str, root: str, *, as_of: AsOf = None, storage_options: Mapping[str, Any] | None = None
) -> DeltaTable | None:
    """The Delta table `name` (at version/time `as_of`), or None when it does not exist.

    Raises ValueError for an `as_of` that is not a version or ISO 8601 time, and delta-rs'
    DeltaError for a version or time the table's log does not (or no longer) hold.
    """
    when = _as_of(as_of)
    options = delta_storage_options(storage_options, root)
    try:
        table = DeltaTable(
            table_uri(name, root),
            version=when if isinstance(when, int) else None,
            storage_options=options,
        )
    except TableNotFoundError:
        return None
    if isinstance(when, datetime):
        table.load_as_version(when)
    return table


def reader_schema(name: str, table: DeltaTable | None) -> pa.Schema:
    """The code's declared columns first, then columns only the table has (newer writers)."""
    declared = TABLE_SCHEMAS[name]
    if table is None:
        return declared
    found = pa.schema(table.schema().to_arrow())  # arro3 -> pyarrow via the C data interface
    return pa.schema([*declared, *(f for f in found if f.name not in declared.names)])


def dataset(
    name: str,
    root: str,
    storage_options: Mapping[str, Any] | None = None,
    *,
    as_of: AsOf = None,
) -> ds.Dataset:
    """The pyarrow Dataset of table `name`'s current (or `as_of`) snapshot.

    Columns the table lacks read as null; an absent table is an empty dataset.
    """
    table = open_table(name, root, as_of=as_of, storage_options=storage_options)
    schema = reader_schema(name, table)
    if table is None:
        return ds.InMemoryDataset(schema.empty_table())
    return table.to_pyarrow_dataset(schema=schema)


def _expression(filters: Filters) -> ds.Expression | None:
    if filters is None or isinstance(filters, ds.Expression):
        return filters
    if not filters:
        return None

    def fix(term: Sequence[Any]) -> tuple[Any, ...]:
        column, op, value = term
        if column == PARTITION and isinstance(value, str):
            value = date.fromisoformat(value)
        elif column == PARTITION and op in ("in", "not in"):
            value = [date.fromisoformat(v) if isinstance(v, str) else v for v in value]
        return (column, op, value)

    if isinstance(filters[0][0], str):
        return pq.filters_to_expression([fix(t) for t in filters])
    return pq.filters_to_expression([[fix(t) for t in conj] for conj in filters])


def read_table(
    name: str,
    root: str,
    *,
    filters: Filters = None,
    columns: Sequence[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Table `name` as a DataFrame with every column (absent table: zero rows).

    `filters` is a pyarrow Expression or DNF tuples (`[("meeting_date", ">=", "2025-01-01")]`;
    ISO strings are accepted for `meeting_date`): filters on `meeting_date` skip other
    partitions' files, others skip files by their min/max statistics. `as_of` reads an older
    version (int) or the version current at a time.
    """
    data = dataset(name, root, storage_options, as_of=as_of)
    cols = list(columns) if columns is not None else None
    frame: pd.DataFrame = data.to_table(columns=cols, filter=_expression(filters)).to_pandas()
    return frame


def existing_media_checksums(
    root: str, bot_id: str, storage_options: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """`{media key: sha256}` of what the catalog already records for `bot_id`."""
    frame = read_table(
        "media",
        root,
        filters=ds.field("bot_id") == bot_id,
        columns=["key", "sha256"],
        storage_options=storage_options,
    )
    return {k: s for k, s in zip(frame["key"], frame["sha256"], strict=True) if isinstance(s, str)}
