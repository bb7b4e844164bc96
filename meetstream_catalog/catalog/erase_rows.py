"""Deleting a subject's rows from the catalog's tables: Delta DELETE, one table at a time.

Responsibility: `count_rows` (what an erasure would delete, per table), `delete_rows` (one
Delta delete-by-predicate commit on one table, retried on conflict like every catalog commit) and
`rewrite_bots` (a participant's erasure: each of their meetings' `bots` row written again
with counts that no longer count them). Plain Python, blocking.

Traps guarded against:
- a re-run that fails or commits empty versions: a DELETE that matches nothing commits
  nothing (delta-rs), so every step can run again;
- a `bots` row that still counts, or names, an erased person: `media_files`, `media_bytes`,
  `speech_turns` and `utterances` are counted again from the rows left (retention checks
  `media_files` against the `media` rows before deleting anything at MeetStream), and the
  `missing_files` lines that name the person ("audio of 'Sam' ...") are dropped. The stream
  counts (`audio_participants`, `webcam_streams`, ...) keep what the manifests listed;
- racing captures of other meetings: no lock, only optimistic commits (`retry_conflicts`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import write_deltalake

from meetstream_catalog.catalog.arrow_tables import bots_table
from meetstream_catalog.catalog.commit_retry import retry_conflicts
from meetstream_catalog.catalog.erase_scope import Subject, arrow_filter
from meetstream_catalog.catalog.handles import kept_table
from meetstream_catalog.catalog.names import normalize_name
from meetstream_catalog.catalog.properties import COMMIT, HOOKS, WRITER
from meetstream_catalog.catalog.read import dataset, dataset_of
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.catalog.replace import replace_rows
from meetstream_catalog.catalog.schema import PARTITIONS, TABLE_SCHEMAS
from meetstream_catalog.roots import Root

__all__ = ["count_rows", "delete_rows", "names_person", "rewrite_bots", "subject_bots"]


def subject_bots(root: Root, subject: Subject) -> list[str]:
    """The bots the subject has rows of (a bot: itself, if the catalog knows it)."""
    found: set[str] = set()
    for name in subject.tables():
        data = dataset(name, root).to_table(columns=["bot_id"], filter=arrow_filter(subject, name))
        found.update(str(b) for b in pc.unique(data["bot_id"]).to_pylist())
    return sorted(found)


def count_rows(root: Root, subject: Subject, bot_ids: Sequence[str]) -> dict[str, int]:
    """`{table: rows of the subject}` for every table it has rows in, in erase order."""
    return {
        name: dataset(name, root).count_rows(filter=arrow_filter(subject, name, bot_ids))
        for name in subject.tables()
    }


def delete_rows(root: Root, name: str, predicate: str, where: ds.Expression) -> int:
    """Delete the rows of table `name` matching `predicate` (`where`, the same condition as
    a pyarrow filter) in one commit; return how many there were.

    A Delta delete by predicate written as an overwrite of the matching rows with nothing
    (`write_deltalake(mode="overwrite", predicate=...)`), not `DeltaTable.delete`: in
    delta-rs 1.x the files DELETE rewrites type every string column `string_view`, and
    pyarrow then cannot apply the catalog's filters (`bot_id == ...`) to the table at all.
    An absent table, or no matching row, commits nothing and returns 0. Raises
    CatalogConflictError if the commit kept conflicting.
    """
    uri, options = root.join(name), root.delta_options()
    nothing = TABLE_SCHEMAS[name].empty_table()

    def delete() -> int:
        table = kept_table(uri, options)
        if table is None:
            return 0
        found: int = dataset_of(name, table).count_rows(filter=where)
        if found:
            write_deltalake(
                table,
                nothing,
                mode="overwrite",
                predicate=predicate,
                partition_by=[PARTITIONS[name]],
                schema_mode="merge",
                storage_options=options,
                writer_properties=WRITER,
                commit_properties=COMMIT,
                post_commithook_properties=HOOKS,
            )
        return found

    deleted: int = retry_conflicts(delete, what=f"erasure in catalog table {name!r}")
    return deleted


def names_person(line: str, participant_key: str) -> bool:
    """Whether a `missing_files` line ("audio of 'Sam Lee' (segment 0, ...)") names them."""
    return f"'{participant_key}'" in normalize_name(line)


def _count(root: Root, name: str, bot_id: str) -> int:
    rows: int = dataset(name, root).count_rows(filter=ds.field("bot_id") == bot_id)
    return rows


def _recounted(root: Root, row: dict[str, object], key: str) -> BotRecord:
    bot_id = str(row["bot_id"])
    row["custom_attributes"] = json.loads(str(row.get("custom_attributes") or "{}"))
    bot = BotRecord.model_validate(row)
    sizes = dataset("media", root).to_table(columns=["bytes"], filter=ds.field("bot_id") == bot_id)[
        "bytes"
    ]
    missing = [m for m in bot.missing_files or () if not names_person(m, key)]
    return bot.model_copy(
        update={
            "media_files": len(sizes),
            "media_bytes": int(pc.sum(sizes).as_py() or 0),
            "speech_turns": _count(root, "speech", bot_id)
            if bot.speech_turns is not None
            else None,
            "utterances": _count(root, "utterances", bot_id)
            if bot.utterances is not None
            else None,
            "missing_files": missing if bot.missing_files is not None else None,
        }
    )


def rewrite_bots(root: Root, bot_ids: Sequence[str], participant_key: str) -> int:
    """Write the `bots` rows of `bot_ids` again, counted from the rows left, in one commit.

    Run after the participant's rows are gone. Returns how many rows were rewritten.
    """
    if not bot_ids:
        return 0
    rows = (
        dataset("bots", root)
        .to_table(filter=ds.field("bot_id").isin(list(bot_ids)))
        .drop_columns(["schema_version"])
        .to_pylist()
    )
    if not rows:
        return 0
    data = pa.concat_tables(bots_table(_recounted(root, r, participant_key)) for r in rows)
    replace_rows("bots", root, [str(r["bot_id"]) for r in rows], data)
    return len(rows)
