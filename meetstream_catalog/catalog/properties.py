"""How every catalog table is created and committed: Delta table properties, Parquet writer
settings, and the schema version each commit records.

Responsibility: `TABLE_PROPERTIES` (given to a table by the commit that creates it, and by
maintenance to a table created without them), `WRITER`, `COMMIT` and `HOOKS`, which every
writer of the catalog passes to delta-rs (`write_bot`'s replacements and the appends).

The trap guarded against is a commit that gets dearer every day. Delta-rs' defaults gather
statistics on the first 32 columns of every file and checkpoint every 100 commits; both make
each commit (and each fresh open of a table) cost more as the table grows. The numbers
below are measured; see the comments.
"""

from __future__ import annotations

from deltalake import CommitProperties, PostCommitHookProperties, WriterProperties

from meetstream_catalog.catalog.schema import SCHEMA_VERSION

__all__ = ["COMMIT", "HOOKS", "SCHEMA_VERSION_KEY", "TABLE_PROPERTIES", "WRITER"]

SCHEMA_VERSION_KEY = "meetstream.schema_version"
WRITER = WriterProperties(compression="ZSTD")
# Delta-rs retries conflicts it can resolve itself (e.g. appends to other files) this often.
COMMIT = CommitProperties(
    custom_metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION)}, max_commit_retries=20
)
# After each commit delta-rs by default also deletes expired log entries, and to find them
# it lists the whole `_delta_log` (three times, statting every entry) in every commit: at
# 4,000 commits 13,700 statx calls per commit, most of a commit's cost and the reason it grew
# with the log (S3: the whole log listed again per commit). Maintenance deletes expired
# entries once per run (`cleanup_metadata`); the checkpoint every 10 commits stays.
HOOKS = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
# Every commit re-reads the statistics of each live file of the snapshot: with delta-rs'
# default (the first 32 columns) that is ~0.5 ms per file per commit, with `bot_id` only
# ~0.17 ms (measured, 160 files). Two columns are used to skip files: `bot_id` (the write
# predicate, `existing_media_checksums`) and `meeting_link_redacted` (a re-run looking for
# its request's bot in `bots` and `intents`: without it, every capture read every file of
# both tables; tables without the column ignore it). The partition column needs none.
#
# A checkpoint every 10 commits (Spark Delta's default; delta-rs' is 100): a process that
# opens a table reads the last checkpoint plus the commits after it, and every flow run of a
# fleet opens the tables afresh. With delta-rs' 100, opening the tables on S3 replayed up to
# 100 commit files each, quadratic over a busy day between two maintenance runs: 81% of all
# S3 requests in the scale-out test (12,148 of 15,002 for 24 meetings).
TABLE_PROPERTIES = {
    "delta.dataSkippingStatsColumns": "bot_id,meeting_link_redacted",
    "delta.checkpointInterval": "10",
}
