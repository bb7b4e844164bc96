"""Catalog compaction on a local root: no row lost or doubled, idempotent, crash-safe."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tasks import catalog, compaction
from tasks.catalog_schema import TABLE_SCHEMAS, TABLES, BotRecord
from tasks.join import ParticipantRow
from tasks.models import ArchivedMedia

TODAY = dt.date(2025, 3, 10)
CLOSED = dt.date(2025, 3, 7)
OPEN = dt.date(2025, 3, 9)


def write(root: str, bot_id: str, day: dt.date, files: int, tag: str = "a") -> None:
    media = [
        ArchivedMedia(
            bot_id=bot_id,
            kind="audio",
            participant_name=f"Person {i}",
            stream_id=f"s{i}",
            key=f"{bot_id}/{tag}/{i}.wav",
            storage_uri=f"file:///media/{bot_id}/{tag}/{i}.wav",
            bytes=100 + i,
            sha256=f"{tag}{i:063d}",
        )
        for i in range(files)
    ]
    people = [
        ParticipantRow(
            bot_id=bot_id,
            participant_key=f"person {i}",
            participant_name=f"Person {i}",
            match="audio_only",
        )
        for i in range(files)
    ]
    record = BotRecord(bot_id=bot_id, meeting_date=day, bot_name=tag)
    catalog.write_bot(root, bot=record, media=media, participants=people)


def rows(root: str, table: str) -> pd.DataFrame:
    """What a supersession-aware reader sees, sorted for comparison."""
    files = compaction.live_files(root, table)
    if not files:
        return pd.DataFrame()
    frame = ds.dataset(files, schema=TABLE_SCHEMAS[table], format="parquet").to_table()
    data = frame.to_pandas()
    return data.sort_values(list(data.columns[:3])).reset_index(drop=True)


def names(root: Path, table: str, day: dt.date) -> list[str]:
    return sorted(p.name for p in (root / table / f"meeting_date={day}").glob("*.parquet"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "catalog"
    for i in range(5):
        write(str(base), f"bot-closed-{i}", CLOSED, files=i)
    write(str(base), "bot-open", OPEN, files=2)
    return base


def test_closed_days_are_merged_into_one_file_per_table_with_every_row(root: Path) -> None:
    before = {t: rows(str(root), t) for t in TABLES}

    reports = compaction.compact(str(root), min_rows_per_group=3, today=TODAY)

    assert {(r.table, r.meeting_date, r.action) for r in reports} == {
        (t, str(CLOSED), "compacted") for t in TABLES
    }
    for table in TABLES:
        pd.testing.assert_frame_equal(rows(str(root), table), before[table])
        files = names(root, table, CLOSED)
        assert len(files) == 1
        assert files[0].startswith(catalog.COMPACTED_PREFIX)
    media = pq.ParquetFile(next((root / "media" / f"meeting_date={CLOSED}").glob("*.parquet")))
    assert media.metadata.num_rows == 10
    assert [media.metadata.row_group(i).num_rows for i in range(4)] == [3, 3, 3, 1]


def test_open_days_are_left_alone(root: Path) -> None:
    compaction.compact(str(root), today=TODAY)

    assert names(root, "media", OPEN) == [catalog.bot_file_name("bot-open")]


def test_a_second_run_changes_nothing(root: Path) -> None:
    compaction.compact(str(root), today=TODAY)
    snapshot = {p: p.read_bytes() for p in root.rglob("*.parquet")}

    reports = compaction.compact(str(root), today=TODAY)

    assert {r.action for r in reports} == {"unchanged"}
    assert {p: p.read_bytes() for p in root.rglob("*.parquet")} == snapshot


def test_a_recaptured_meeting_of_a_compacted_day_ends_with_exactly_its_new_rows(
    root: Path,
) -> None:
    compaction.compact(str(root), today=TODAY)

    write(str(root), "bot-closed-3", CLOSED, files=2, tag="new")

    media = rows(str(root), "media")
    mine = media[media.bot_id == "bot-closed-3"]
    assert sorted(mine.key) == ["bot-closed-3/new/0.wav", "bot-closed-3/new/1.wav"]
    assert len(media) == 0 + 1 + 2 + 2 + 4 + 2  # bot 3 now has 2 rows; 2 on the open day
    assert catalog.read_table("media", str(root)).shape[0] == len(media)


def test_late_bot_files_of_a_compacted_day_go_into_another_compacted_file(root: Path) -> None:
    compaction.compact(str(root), today=TODAY)
    write(str(root), "bot-late", CLOSED, files=3)

    compaction.compact(str(root), today=TODAY)

    files = names(root, "media", CLOSED)
    assert len(files) == 2
    assert all(f.startswith(catalog.COMPACTED_PREFIX) for f in files)
    assert len(rows(str(root), "media")) == 10 + 3 + 2


def test_a_crash_after_publishing_shows_no_duplicate_and_the_next_run_cleans_up(
    root: Path, tmp_path: Path
) -> None:
    day_dir = root / "media" / f"meeting_date={CLOSED}"
    saved = tmp_path / "saved"
    shutil.copytree(day_dir, saved)
    compaction.compact(str(root), today=TODAY)
    # Put the sources back, as if the process died right after publishing.
    for source in saved.iterdir():
        shutil.copy(source, day_dir / source.name)

    assert len(rows(str(root), "media")) == 12
    assert len(compaction.live_files(str(root), "media")) == 2  # compacted + open day

    reports = compaction.compact(str(root), today=TODAY)

    media_report = next(r for r in reports if r.table == "media")
    assert (media_report.action, media_report.removed) == ("cleaned", 5)
    assert len(names(root, "media", CLOSED)) == 1
    assert len(rows(str(root), "media")) == 12


def test_a_leftover_replaced_by_a_recapture_is_not_hidden(root: Path, tmp_path: Path) -> None:
    day_dir = root / "media" / f"meeting_date={CLOSED}"
    saved = tmp_path / "saved"
    shutil.copytree(day_dir, saved)
    compaction.compact(str(root), today=TODAY)
    for source in saved.iterdir():
        shutil.copy(source, day_dir / source.name)

    write(str(root), "bot-closed-4", CLOSED, files=1, tag="new")

    media = rows(str(root), "media")
    assert sorted(media[media.bot_id == "bot-closed-4"].key) == ["bot-closed-4/new/0.wav"]
    assert len(media) == 0 + 1 + 2 + 3 + 1 + 2


def test_a_byte_identical_recapture_stays_visible(root: Path) -> None:
    compaction.compact(str(root), today=TODAY)
    # Identical content: the per-bot media file has the same bytes as the compacted source.
    write(str(root), "bot-closed-2", CLOSED, files=2)

    media = rows(str(root), "media")
    assert len(media[media.bot_id == "bot-closed-2"]) == 2
    assert len(media) == 12


def test_a_compacted_file_with_missing_rows_is_removed_and_no_source_deleted(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = compaction._encode
    monkeypatch.setattr(compaction, "_encode", lambda merged, *a: real(merged.slice(1), *a))
    before = names(root, "media", CLOSED)

    with pytest.raises(compaction.CompactionError, match="holds 9 rows, its sources 10"):
        compaction.compact_day(str(root), "media", CLOSED)

    assert names(root, "media", CLOSED) == before


def test_a_source_changed_during_compaction_is_kept(root: Path) -> None:
    path = root / "media" / f"meeting_date={CLOSED}" / catalog.bot_file_name("bot-closed-1")

    assert not compaction._delete_unchanged(compaction._fs(str(root), None)[0], str(path), "0")
    assert path.exists()


def test_older_than_days_must_not_be_negative(root: Path) -> None:
    with pytest.raises(ValueError, match="older_than_days"):
        compaction.closed_days(str(root), older_than_days=-1)


def test_zero_row_files_of_a_closed_day_are_removed_without_a_compacted_file(
    tmp_path: Path,
) -> None:
    base = tmp_path / "catalog"
    write(str(base), "bot-empty", CLOSED, files=0)

    reports = compaction.compact(str(base), today=TODAY)

    assert {(r.table, r.action) for r in reports} == {
        ("bots", "compacted"),
        ("media", "cleaned"),
        ("participants", "cleaned"),
    }
    assert names(base, "media", CLOSED) == []
    assert len(rows(str(base), "bots")) == 1
