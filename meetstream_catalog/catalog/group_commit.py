"""Group commit: the bots a process is writing at the same time share their commits.

Responsibility: `commit_bot` queues one bot's tables; one thread per catalog root commits
every bot queued so far, one commit per table in `WRITE_ORDER`, and the others wait for
their rows to be committed. Plain Python, blocking.

Traps guarded against:
- a process fighting itself: delta-rs retries a lost race at once, so N writers that commit
  together cost ~N^2/2 attempts (each a listing, a read and a conditional PUT). Within one
  process, bots are committed by one thread at a time, and that thread takes every bot
  queued meanwhile into the same commits: 50 meetings ending together in one process cost a
  few commits per table, not 50. The lock lives and dies with the process (a crash leaves
  nothing to release); only processes race each other, optimistically;
- a reader seeing a bot without its media: `bots` commits last, so a bot listed in `bots`
  has its other rows committed (a crash in between leaves the previous version of the bot,
  or no bot, in `bots`; the next run completes it);
- one bot's bad rows failing its neighbours: a failed group is retried bot by bot, and only
  the bot whose own commit fails gets the error;
- one bot twice in a group (a re-run racing itself): a group takes a bot at most once, so
  its two versions are two replacements, never both sets of rows.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import pyarrow as pa

from meetstream_catalog.catalog.replace import replace_rows
from meetstream_catalog.roots import Root

__all__ = ["WRITE_ORDER", "commit_bot"]

# bots last: its row vouches for the others
WRITE_ORDER = ("media", "participants", "speech", "utterances", "words", "bots")


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


def commit_bot(root: Root, bot_id: str, tables: dict[str, pa.Table]) -> None:
    """Commit one bot's rows (`{table name: rows}`), in WRITE_ORDER, together with whatever
    this process queued for `root` meanwhile.

    The thread holding the root's committer lock commits every bot queued so far (a bot at
    most once per group) in one commit per table; the others wait, find their rows
    committed, and return. Raises what this bot's own commit raised.
    """
    key = (root.url, json.dumps(root.delta_options(), sort_keys=True))
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
            _commit_group(root, group)
    if mine.error is not None:
        raise mine.error


def _commit_group(root: Root, group: list[_Queued]) -> None:
    try:
        for name in WRITE_ORDER:
            members = [q for q in group if name in q.tables]
            if members:
                data = pa.concat_tables([q.tables[name] for q in members])
                replace_rows(name, root, [q.bot_id for q in members], data)
    except Exception as exc:  # noqa: BLE001 - handed to the caller of each bot
        if len(group) == 1:
            group[0].error = exc
        else:
            for queued in group:
                _commit_group(root, [queued])
    finally:
        for queued in group:
            queued.done = True
