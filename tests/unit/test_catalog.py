"""The Parquet catalog: schemas, atomic per-bot files, replace semantics, four readers."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tasks import catalog_schema
from tasks.catalog import (
    bot_file_name,
    bot_record,
    dataset,
    existing_media_checksums,
    read_table,
    write_bot,
)
from tasks.catalog_schema import (
    SCHEMA_VERSION,
    TABLE_SCHEMAS,
    TABLES,
    VERSION_KEY,
    BotRecord,
    assert_compatible,
    redact_meeting_link,
)
from tasks.join import ParticipantRow, join_participants
from tasks.models import ArchivedMedia, AudioManifest

DAY = dt.date(2025, 3, 14)
OTHER_DAY = dt.date(2025, 3, 15)


def media_of(bot_id: str, n: int, tag: str = "") -> list[ArchivedMedia]:
    return [
        ArchivedMedia(
            bot_id=bot_id,
            kind="audio" if i == 0 else "webcam",
            participant_name=f"P {i}",
            stream_id=f"s{i}",
            key=f"{bot_id}/{tag}{i}.webm",
            storage_uri=f"s3://media/{bot_id}/{tag}{i}.webm",
            bytes=100 + i,
            sha256=f"{tag}{i}".ljust(64, "0"),
            duration_seconds=1.5,
        )
        for i in range(n)
    ]


def people_of(bot_id: str, n: int) -> list[ParticipantRow]:
    return [
        ParticipantRow(
            bot_id=bot_id,
            participant_key=f"p {i}",
            participant_name=f"P {i}",
            match="both",
            webcam_stream_ids=[f"v{i}"],
        )
        for i in range(n)
    ]


def write(
    root: str, bot_id: str, day: dt.date = DAY, media: int = 2, people: int = 2, **extra: object
) -> dict[str, str]:
    bot = BotRecord.model_validate(
        {"bot_id": bot_id, "meeting_date": day, "platform": "zoom", **extra}
    )
    return write_bot(
        root, bot=bot, media=media_of(bot_id, media), participants=people_of(bot_id, people)
    )


def counts(root: str) -> dict[str, int]:
    return {t: len(read_table(t, root)) for t in TABLES}


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "catalog")


def test_every_table_has_an_explicit_versioned_schema_with_non_null_keys() -> None:
    keys = {"bots": {"bot_id"}, "media": {"bot_id", "kind", "key"}}
    keys["participants"] = {"bot_id", "participant_key", "match"}
    for name, schema in TABLE_SCHEMAS.items():
        assert schema.metadata[VERSION_KEY] == str(SCHEMA_VERSION).encode()
        assert {f.name for f in schema if not f.nullable} == keys[name]
        assert "meeting_date" not in schema.names  # it is the partition, not a file column


def test_written_files_carry_the_schema_version_in_parquet_metadata(root: str) -> None:
    for table, uri in write(root, "b1").items():
        path = uri.removeprefix("file://")
        assert pq.read_metadata(path).metadata[VERSION_KEY] == b"1"
        assert pq.read_schema(path).equals(TABLE_SCHEMAS[table])  # nullability included


def test_file_layout_is_one_hive_partitioned_file_per_bot_and_table(root: str) -> None:
    written = write(root, "6667fd0c-0165")
    assert written["media"] == (
        f"file://{root}/media/meeting_date=2025-03-14/bot-6667fd0c-0165.parquet"
    )
    assert set(written) == set(TABLES)


def test_assert_compatible_allows_only_appended_nullable_columns() -> None:
    v1 = TABLE_SCHEMAS["media"]
    assert_compatible(v1, v1.append(pa.field("fps", pa.float64())))
    with pytest.raises(ValueError, match="nullable"):
        assert_compatible(v1, v1.append(pa.field("fps", pa.float64(), nullable=False)))
    with pytest.raises(ValueError, match="changed type"):
        assert_compatible(v1, v1.set(5, pa.field("segment_index", pa.int32())))
    with pytest.raises(ValueError, match="rename"):
        assert_compatible(v1, v1.remove(2))


def test_all_four_readers_see_the_same_rows_and_partition_column(root: str) -> None:
    write(root, "b1", DAY, media=3, people=2)
    write(root, "b2", DAY, media=0, people=0)  # empty files are valid, zero-row files
    write(root, "b3", OTHER_DAY, media=1, people=4)
    expected = {"bots": 3, "media": 4, "participants": 6}
    for table, n in expected.items():
        frame = read_table(table, root)
        assert len(frame) == n
        assert len(pd.read_parquet(f"{root}/{table}")) == n
        assert dataset(table, root).count_rows() == n
        glob = f"{root}/{table}/**/*.parquet"
        sql = (
            "select count(*), count(distinct meeting_date) "
            "from read_parquet(?, hive_partitioning=true)"
        )
        duck = duckdb.execute(sql, [glob]).fetchall()[0]
        polars = pl.scan_parquet(glob, hive_partitioning=True).collect()
        assert duck[0] == polars.height == n
        dates = {str(d) for d in frame["meeting_date"]}
        assert {str(d) for d in polars["meeting_date"].unique()} == dates
        assert duck[1] == len(dates)


def test_types_survive_the_round_trip(root: str) -> None:
    created = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    write(root, "b1", created_at=created, custom_attributes={"team": "ds", "n": 3})
    bots = read_table("bots", root)
    assert bots.loc[0, "created_at"] == pd.Timestamp("2025-03-14 07:30", tz="UTC")
    assert bots.loc[0, "meeting_date"] == DAY
    assert bots.loc[0, "custom_attributes"] == '{"n": 3, "team": "ds"}'
    people = read_table("participants", root)
    assert list(people["webcam_stream_ids"].tolist()[0]) == ["v0"]
    sql = (
        "select json_extract_string(custom_attributes, '$.team') "
        "from read_parquet(?, hive_partitioning=true)"
    )
    assert duckdb.execute(sql, [f"{root}/bots/**/*.parquet"]).fetchall() == [("ds",)]


def test_hostile_participant_names_round_trip_through_every_reader(root: str) -> None:
    names = ["", "Robert'); DROP TABLE x;--", '"a,b"\n=1+1', "| *md* |", "\x00", "é" * 5000]
    audio = AudioManifest.model_validate(
        {
            "participants": [
                {"participant_name": n, "streams": [{"stream_id": f"a{i}"}]}
                for i, n in enumerate(names)
            ]
        }
    )
    rows = join_participants("b1", audio, None, [], platform="zoom")
    write_bot(root, bot=BotRecord(bot_id="b1", meeting_date=DAY), media=[], participants=rows)
    frame = read_table("participants", root)
    assert frame["participant_name"].tolist() == names
    glob = f"{root}/participants/**/*.parquet"
    sql = "select count(*) from read_parquet(?, hive_partitioning=true)"
    assert duckdb.execute(sql, [glob]).fetchall() == [(len(names),)]
    assert pl.scan_parquet(glob, hive_partitioning=True).collect().height == len(names)


def test_rewriting_a_bot_replaces_its_rows(root: str) -> None:
    write(root, "b1", media=3)
    write(root, "b2", media=1)
    write(root, "b1", media=2)
    media = read_table("media", root)
    assert sorted(media["bot_id"]) == ["b1", "b1", "b2"]
    write(root, "b1", media=0, people=0)
    assert counts(root) == {"bots": 2, "media": 1, "participants": 2}


def test_a_bot_moved_to_another_date_leaves_no_rows_behind(root: str) -> None:
    write(root, "b1", DAY)
    write(root, "b1", OTHER_DAY)
    for table in TABLES:
        frame = read_table(table, root)
        assert set(frame["meeting_date"]) == {OTHER_DAY}
        assert not list(Path(root, table, "meeting_date=2025-03-14").glob("*.parquet"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("storage_uri", "https://b.s3.amazonaws.com/k?X-Amz-Expires=600&X-Amz-Signature=abc"),
        ("storage_uri", "https://b.s3.amazonaws.com/k?AWSAccessKeyId=x&Signature=abc"),
        ("filename", "see http://example.com/f.webm?token=1"),
        ("key", "k/X-AMZ-SIGNATURE/abc"),
    ],
)
def test_presigned_urls_are_refused_and_never_echoed(root: str, field: str, value: str) -> None:
    bad = media_of("b1", 1)[0].model_copy(update={field: value})
    bot = BotRecord(bot_id="b1", meeting_date=DAY)
    with pytest.raises(ValueError, match=field) as err:
        write_bot(root, bot=bot, media=[bad], participants=[])
    assert "abc" not in str(err.value)
    assert not Path(root).exists()


def test_presigned_urls_in_custom_attributes_or_lists_are_refused(root: str) -> None:
    url = "https://x.s3.amazonaws.com/a?X-Amz-Signature=s"
    with pytest.raises(ValueError, match="custom_attributes"):
        write(root, "b1", custom_attributes={"recording": url})
    row = people_of("b1", 1)[0].model_copy(update={"webcam_stream_ids": [url]})
    with pytest.raises(ValueError, match="webcam_stream_ids"):
        write_bot(root, bot=BotRecord(bot_id="b1", meeting_date=DAY), media=[], participants=[row])


@pytest.mark.parametrize(
    ("link", "redacted"),
    [
        (
            "https://us02web.zoom.us/j/8123456789?pwd=SeCrEt.1",
            "https://us02web.zoom.us/j/8123456789",
        ),
        ("https://zoom.us/j/1?pwd=a&uname=b#success", "https://zoom.us/j/1"),
        ("https://meet.google.com/abc-defg-hij?authuser=1", "https://meet.google.com/abc-defg-hij"),
        (
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?context=%7b%7d&p=1",
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0",
        ),
        ("https://user:pass@zoom.us:443/j/1;pwd=x", "https://zoom.us:443/j/1"),
        ("https://zoom.us/j/1", "https://zoom.us/j/1"),
    ],
)
def test_meeting_links_lose_passcodes_and_tokens(link: str, redacted: str) -> None:
    assert redact_meeting_link(link) == redacted
    assert redact_meeting_link(redacted) == redacted
    assert (
        BotRecord(bot_id="b", meeting_date=DAY, meeting_link_redacted=link).meeting_link_redacted
        == redacted
    )


def test_concurrent_writers_of_one_day_never_touch_each_others_files(root: str) -> None:
    bots = [f"bot-{i:02d}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda b: write(root, b, media=3, people=2), bots))
    with ThreadPoolExecutor(max_workers=20) as pool:  # and once more, as a re-run storm
        list(pool.map(lambda b: write(root, b, media=1, people=2), bots))
    assert counts(root) == {"bots": 20, "media": 20, "participants": 40}
    assert len(list(Path(root, "media", "meeting_date=2025-03-14").iterdir())) == 20


def test_schema_evolution_reads_old_and_new_files_with_one_schema(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root, "v1-bot", media=1)
    v2 = TABLE_SCHEMAS["media"].append(pa.field("fps", pa.float64()))
    v2 = v2.with_metadata({**v2.metadata, VERSION_KEY: b"2"})
    assert_compatible(TABLE_SCHEMAS["media"], v2)
    row = {**media_of("v2-bot", 1)[0].model_dump(exclude={"copied"}), "fps": 15.0}
    row["participant_key"] = "p 0"
    new_file = Path(root, "media", "meeting_date=2025-03-15", bot_file_name("v2-bot"))
    new_file.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([row], schema=v2), new_file)

    monkeypatch.setitem(catalog_schema.TABLE_SCHEMAS, "media", v2)
    frame = read_table("media", root).sort_values("bot_id")
    assert frame["fps"].tolist()[1] == 15.0
    assert pd.isna(frame["fps"].tolist()[0])
    assert frame.columns[-1] == "fps"
    sql = "select count(fps) from read_parquet(?, hive_partitioning=true, union_by_name=true)"
    assert duckdb.execute(sql, [f"{root}/media/**/*.parquet"]).fetchall() == [(1,)]
    monkeypatch.undo()
    assert "fps" not in read_table("media", root).columns  # an old reader ignores new columns


def test_reads_push_filters_and_columns_down(root: str) -> None:
    write(root, "b1", DAY)
    write(root, "b2", OTHER_DAY)
    frame = read_table(
        "bots", root, filters=[("meeting_date", "=", "2025-03-15")], columns=["bot_id"]
    )
    assert frame.to_dict("list") == {"bot_id": ["b2"]}
    expr = ds.field("meeting_date") == pa.scalar(DAY)
    assert read_table("media", root, filters=expr)["bot_id"].unique().tolist() == ["b1"]
    dnf = [[("bot_id", "=", "b1")], [("meeting_date", "in", ["2025-03-15"])]]
    assert len(read_table("bots", root, filters=dnf)) == 2


def test_an_empty_catalog_reads_as_empty_frames_with_every_column(root: str) -> None:
    for table in TABLES:
        frame = read_table(table, root)
        assert frame.empty
        assert list(frame.columns) == catalog_schema.dataset_schema(table).names
    assert existing_media_checksums(root, "b1") == {}


def test_in_flight_temp_files_are_invisible_to_readers(root: str) -> None:
    write(root, "b1")
    Path(root, "media", "meeting_date=2025-03-14", ".bot-b2.parquet.x.tmp").write_bytes(b"PAR")
    assert len(read_table("media", root)) == 2


def test_rows_of_another_bot_are_refused(root: str) -> None:
    with pytest.raises(ValueError, match="another bot"):
        write_bot(
            root,
            bot=BotRecord(bot_id="b1", meeting_date=DAY),
            media=media_of("b2", 1),
            participants=[],
        )


@pytest.mark.parametrize(
    ("bot_id", "name"),
    [
        ("6667fd0c-0165-471a", "bot-6667fd0c-0165-471a.parquet"),
        ("../../etc", "bot-.._.._etc-"),
        ("a b", "bot-a_b-"),
        ("*?[x]", "bot-___x_-"),
    ],
)
def test_bot_file_names_are_sanitized_and_unique(bot_id: str, name: str) -> None:
    assert bot_file_name(bot_id).startswith(name)
    assert "/" not in bot_file_name(bot_id)
    assert bot_file_name("a b") != bot_file_name("a_b") != bot_file_name("a/b")


def test_existing_media_checksums_lists_what_is_archived(root: str) -> None:
    write(root, "b1", media=2)
    write(root, "b2", media=1)
    assert existing_media_checksums(root, "b1") == {
        "b1/0.webm": "0".ljust(64, "0"),
        "b1/1.webm": "1".ljust(64, "0"),
    }


def _compact(root: str, day: dt.date, name: str = "part-compacted-abc123.parquet") -> None:
    """What the future compaction flow does: merge a day's bot files into one file."""
    for table in TABLES:
        part = Path(root, table, f"meeting_date={day.isoformat()}")
        files = sorted(part.glob("bot-*.parquet"))
        pq.write_table(pa.concat_tables(pq.read_table(f) for f in files), part / name)
        for f in files:
            f.unlink()


def test_recapturing_a_compacted_day_rewrites_the_compacted_file(root: str) -> None:
    for bot in ("b1", "b2", "b3"):
        write(root, bot, media=2, people=1)
    _compact(root, DAY)
    assert counts(root) == {"bots": 3, "media": 6, "participants": 3}
    write(root, "b2", media=5, people=3)
    media = read_table("media", root)
    assert media.groupby("bot_id").size().to_dict() == {"b1": 2, "b2": 5, "b3": 2}
    assert len(read_table("participants", root, filters=[("bot_id", "=", "b2")])) == 3
    assert existing_media_checksums(root, "b1") == {
        "b1/0.webm": "0".ljust(64, "0"),
        "b1/1.webm": "1".ljust(64, "0"),
    }
    compacted = pq.read_table(
        Path(root, "media", "meeting_date=2025-03-14", "part-compacted-abc123.parquet")
    )
    assert set(compacted["bot_id"].to_pylist()) == {"b1", "b3"}


def test_a_compacted_bot_moved_to_another_day_is_removed_from_the_old_day(root: str) -> None:
    write(root, "b1")
    _compact(root, DAY)
    write(root, "b1", OTHER_DAY, media=1)
    assert counts(root) == {"bots": 1, "media": 1, "participants": 2}
    # The compacted file held only b1: it is deleted rather than left empty.
    assert not list(Path(root, "media", "meeting_date=2025-03-14").iterdir())


def test_bot_record_derives_date_counts_and_redacts() -> None:
    audio = AudioManifest.model_validate(
        {"participants": [{"participant_name": "Ann", "streams": [{"stream_id": "a0"}]}]}
    )
    joined = dt.datetime(2025, 3, 14, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    record = bot_record(
        bot_id="b1",
        meeting_link="https://zoom.us/j/1?pwd=secret",
        platform="Zoom",
        outcome="captured",
        join_at=joined,
        created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        audio=audio,
        media=media_of("b1", 2),
        custom_attributes={"team": "ds"},
    )
    assert record.meeting_date == OTHER_DAY  # UTC date of join_at, not created_at
    assert record.meeting_link_redacted == "https://zoom.us/j/1"
    assert (record.platform, record.audio_participants, record.media_files) == ("zoom", 1, 2)
    assert record.media_bytes == 201
    assert record.video_streams_available is None
    with pytest.raises(ValueError, match="outcome"):
        bot_record(bot_id="b1", outcome="exploded")
    with pytest.raises(ValueError, match="another bot"):
        bot_record(bot_id="b1", media=media_of("b2", 1))
