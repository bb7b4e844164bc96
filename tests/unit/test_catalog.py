"""The Delta catalog: schemas, one commit per bot and table, replace semantics, readers."""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog import (
    TABLE_PROPERTIES,
    bot_record,
    dataset,
    existing_media_checksums,
    read_table,
    retry_conflicts,
    sql_literal,
    write_bot,
)
from meetstream_catalog.catalog.join import ParticipantRow, join_participants
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.catalog.schema import (
    CAPTURE_TABLES,
    PARTITION,
    PARTITIONS,
    TABLE_SCHEMAS,
    TABLES,
    assert_compatible,
)
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.meetstream.models import AudioManifest
from meetstream_catalog.redaction import redact_link
from meetstream_catalog.roots import Root

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
) -> None:
    bot = BotRecord.model_validate(
        {"bot_id": bot_id, "meeting_date": day, "platform": "zoom", **extra}
    )
    turns = [
        SpeechRow(
            bot_id=bot_id, turn_index=i, participant_name=f"P {i}", participant_key=f"p {i}",
            device_id=f"d{i}", audio_stream_id="s0" if i == 0 else None, start_seconds=i,
            end_seconds=i + 1.0, duration_seconds=1.0, started_at=None, chunks=1,
        )
        for i in range(people)
    ]  # fmt: skip
    write_bot(
        root,
        bot=bot,
        media=media_of(bot_id, media),
        participants=people_of(bot_id, people),
        speech=turns,
    )


def counts(root: str) -> dict[str, int]:
    return {t: len(read_table(t, root)) for t in CAPTURE_TABLES}


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "catalog")


def test_every_table_has_an_explicit_schema_with_non_null_keys_and_date() -> None:
    keys = {"bots": {"bot_id"}, "media": {"bot_id", "kind", "key"}}
    keys["participants"] = {"bot_id", "participant_key", "match"}
    keys["speech"] = {"bot_id", "turn_index"}
    keys["utterances"] = {"bot_id", "utterance_index", "attribution"}
    keys["words"] = {"bot_id", "utterance_index", "word_index"}
    keys["bot_events"] = {"bot_id", "event", "received_at"}
    keys["intents"] = {"key", "state", "meeting_link_redacted", "link_has_secret"}
    keys["intents"] |= {"bot_name", "expires_at", "written_at"}
    keys["exports"] = {"export_id", "exported_at", "format", "location"}
    keys["erasures"] = {"erasure_id", "state", "at", "subject"}
    assert set(TABLE_SCHEMAS) == set(TABLES) == set(PARTITIONS)
    for name, schema in TABLE_SCHEMAS.items():
        partition = PARTITIONS[name]
        assert {f.name for f in schema if not f.nullable} == keys[name] | {partition}
        assert schema.field(partition).type == pa.date32()  # a real column, not a dir name


def test_every_table_is_listed_and_a_capture_writes_all_but_the_append_only_logs() -> None:
    from meetstream_catalog.catalog.group_commit import WRITE_ORDER

    audit = ("exports", "erasures")
    assert (*CAPTURE_TABLES, "utterances", "words", "bot_events", "intents", *audit) == TABLES
    # bots last: its row vouches for the others
    assert WRITE_ORDER == ("media", "participants", "speech", "utterances", "words", "bots")
    assert PARTITIONS["bot_events"] == "event_date"
    assert {PARTITIONS[name] for name in CAPTURE_TABLES} == {PARTITION}


def test_each_table_is_a_delta_table_partitioned_by_meeting_date(root: str) -> None:
    write(root, "6667fd0c-0165")
    for name in CAPTURE_TABLES:
        table = DeltaTable(f"{root}/{name}")
        assert table.metadata().partition_columns == [PARTITION]
        assert Path(root, name, "_delta_log").is_dir()
        assert list(Path(root, name).glob("meeting_date=2025-03-14/*.parquet"))
        assert table.history(1)[0]["meetstream.schema_version"] == "2"


def test_bots_commits_last(root: str) -> None:
    write(root, "b1")
    times = {
        name: DeltaTable(f"{root}/{name}").history(1)[0]["timestamp"] for name in CAPTURE_TABLES
    }
    assert times["media"] <= times["participants"] <= times["bots"]


def test_assert_compatible_allows_only_appended_nullable_columns() -> None:
    v1 = TABLE_SCHEMAS["media"]
    assert_compatible(v1, v1.append(pa.field("fps", pa.float64())))
    with pytest.raises(ValueError, match="nullable"):
        assert_compatible(v1, v1.append(pa.field("fps", pa.float64(), nullable=False)))
    with pytest.raises(ValueError, match="changed type"):
        assert_compatible(
            v1, v1.set(v1.get_field_index("segment_index"), pa.field("segment_index", pa.int32()))
        )
    with pytest.raises(ValueError, match="rename"):
        assert_compatible(v1, v1.remove(2))


def test_all_four_readers_see_the_same_rows_and_partition_column(root: str) -> None:
    write(root, "b1", DAY, media=3, people=2)
    write(root, "b2", DAY, media=0, people=0)  # a bot with no media still gets its bots row
    write(root, "b3", OTHER_DAY, media=1, people=4)
    write(root, "b1", DAY, media=3, people=2)  # replaced rows must not be counted
    expected = {"bots": 3, "media": 4, "participants": 6}
    for table, n in expected.items():
        frame = read_table(table, root)
        assert len(frame) == n
        assert len(DeltaTable(f"{root}/{table}").to_pandas()) == n
        assert dataset(table, root).count_rows() == n
        sql = "select count(*), count(distinct meeting_date) from t"
        con = duckdb.connect()
        con.register("t", DeltaTable(f"{root}/{table}").to_pyarrow_dataset())
        duck = con.execute(sql).fetchall()[0]
        polars = pl.scan_delta(f"{root}/{table}").collect()
        assert duck[0] == polars.height == n
        dates = {str(d) for d in frame["meeting_date"]}
        assert {str(d) for d in polars["meeting_date"].unique()} == dates
        assert duck[1] == len(dates)


def test_a_plain_parquet_directory_read_counts_replaced_rows(root: str) -> None:
    write(root, "b1", media=2)
    write(root, "b1", media=2)
    assert len(pd.read_parquet(f"{root}/media")) == 4  # why docs/catalog.md warns
    assert len(read_table("media", root)) == 2


def test_types_survive_the_round_trip(root: str) -> None:
    created = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    write(root, "b1", created_at=created, custom_attributes={"team": "ds", "n": 3})
    bots = read_table("bots", root)
    assert bots.loc[0, "created_at"] == pd.Timestamp("2025-03-14 07:30", tz="UTC")
    assert bots.loc[0, "meeting_date"] == DAY
    assert bots.loc[0, "custom_attributes"] == '{"n": 3, "team": "ds"}'
    people = read_table("participants", root)
    assert list(people["webcam_stream_ids"].tolist()[0]) == ["v0"]
    con = duckdb.connect()
    con.register("bots", dataset("bots", root))
    sql = "select json_extract_string(custom_attributes, '$.team') from bots"
    assert con.execute(sql).fetchall() == [("ds",)]


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
    assert pl.scan_delta(f"{root}/participants").collect()["participant_name"].to_list() == names


def test_rewriting_a_bot_replaces_its_rows(root: str) -> None:
    write(root, "b1", media=3)
    write(root, "b2", media=1)
    write(root, "b1", media=2)
    media = read_table("media", root)
    assert sorted(media["bot_id"]) == ["b1", "b1", "b2"]
    write(root, "b1", media=0, people=0)
    assert counts(root) == {"bots": 2, "media": 1, "participants": 2, "speech": 2}


def test_a_bot_moved_to_another_date_leaves_no_rows_behind(root: str) -> None:
    write(root, "b1", DAY)
    write(root, "b1", OTHER_DAY)
    for table in CAPTURE_TABLES:
        frame = read_table(table, root)
        assert set(frame["meeting_date"]) == {OTHER_DAY}


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
        ("https://zoom.us/j/1%3Fpwd%3DsEcReT", "https://zoom.us/j/1"),
        ("https://zoom.us/j/1%3bpwd=sEcReT", "https://zoom.us/j/1"),
        ("https://zoom.us/j/1%23pwd=sEcReT", "https://zoom.us/j/1"),
    ],
)
def test_meeting_links_lose_passcodes_and_tokens(link: str, redacted: str) -> None:
    assert redact_link(link) == redacted
    assert redact_link(redacted) == redacted
    assert (
        BotRecord(bot_id="b", meeting_date=DAY, meeting_link_redacted=link).meeting_link_redacted
        == redacted
    )


def test_concurrent_threads_commit_without_a_lock(root: str) -> None:
    bots = [f"bot-{i:02d}" for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda b: write(root, b, media=3, people=2), bots))
    with ThreadPoolExecutor(max_workers=6) as pool:  # and once more, as a re-run storm
        list(pool.map(lambda b: write(root, b, media=1, people=2), bots))
    assert counts(root) == {"bots": 12, "media": 12, "participants": 24, "speech": 24}


def _queued_while_committer_busy(root: str, jobs: list[Callable[[], None]]) -> list[str]:
    """Run `jobs` in threads while this process's committer is held, so that they all
    queue; release it; return the errors the jobs raised."""
    from meetstream_catalog.catalog import group_commit

    at = Root(root)
    key = (at.url, json.dumps(at.delta_options(), sort_keys=True))
    errors: list[str] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(str(exc))

    committer = group_commit._COMMITTERS.setdefault(key, threading.Lock())
    with committer:
        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        while len(group_commit._QUEUES.get(key, [])) < len(jobs):
            time.sleep(0.01)
    for thread in threads:
        thread.join()
    return errors


def test_bots_queued_together_share_one_commit_per_table(root: str) -> None:
    bots = [f"g{n}" for n in range(8)]
    jobs = [functools.partial(write, root, b, media=2, people=1) for b in bots]
    assert _queued_while_committer_busy(root, jobs) == []
    assert counts(root) == {"bots": 8, "media": 16, "participants": 8, "speech": 8}
    for name in ("bots", "media", "participants"):
        assert DeltaTable(f"{root}/{name}").version() == 0  # one commit made all 8


def test_one_bad_bot_in_a_group_fails_alone(root: str) -> None:
    from meetstream_catalog.catalog.group_commit import commit_bot

    bad = functools.partial(commit_bot, Root(root), "bad", {"bots": pa.table({"x": [1]})})
    jobs = [bad, *(functools.partial(write, root, b) for b in ("ok1", "ok2"))]
    errors = _queued_while_committer_busy(root, jobs)
    assert len(errors) == 1
    assert sorted(read_table("bots", root).bot_id) == ["ok1", "ok2"]


def test_the_same_bot_twice_in_the_queue_is_committed_twice_not_doubled(root: str) -> None:
    jobs = [functools.partial(write, root, "twice", media=n) for n in (1, 3)]
    assert _queued_while_committer_busy(root, jobs) == []
    assert counts(root)["bots"] == 1
    assert counts(root)["media"] in (1, 3)  # whichever of the two committed last


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
        assert list(frame.columns) == TABLE_SCHEMAS[table].names
    assert existing_media_checksums(root, "b1") == {}


def test_files_no_commit_names_are_invisible_to_readers(root: str) -> None:
    write(root, "b1")
    stray = Path(root, "media", "meeting_date=2025-03-14", "part-in-flight.parquet")
    pq.write_table(pa.table({"bot_id": ["ghost"]}), stray)  # an uncommitted upload
    assert len(read_table("media", root)) == 2


def test_rows_of_another_bot_are_refused(root: str) -> None:
    with pytest.raises(ValueError, match="another bot"):
        write_bot(
            root,
            bot=BotRecord(bot_id="b1", meeting_date=DAY),
            media=media_of("b2", 1),
            participants=[],
        )


@pytest.mark.parametrize("bot_id", ["o'brien", "x' or '1'='1", "a\\b", "é 💥", "--"])
def test_hostile_bot_ids_replace_exactly_their_own_rows(root: str, bot_id: str) -> None:
    write(root, "bystander", media=1)
    write(root, bot_id, media=3)
    write(root, bot_id, media=1)
    media = read_table("media", root)
    assert media.groupby("bot_id").size().to_dict() == {"bystander": 1, bot_id: 1}


def test_sql_literals_double_quotes_and_refuse_nul() -> None:
    assert sql_literal("o'b") == "'o''b'"
    with pytest.raises(ValueError, match="NUL"):
        sql_literal("a\x00b")


def test_existing_media_checksums_lists_what_is_archived(root: str) -> None:
    write(root, "b1", media=2)
    write(root, "b2", media=1)
    assert existing_media_checksums(root, "b1") == {
        "b1/0.webm": "0".ljust(64, "0"),
        "b1/1.webm": "1".ljust(64, "0"),
    }


def test_time_travel_reads_an_older_version_or_time(root: str) -> None:
    write(root, "b1", media=3)
    first = DeltaTable(f"{root}/media").version()
    stamp = dt.datetime.now(dt.UTC)
    write(root, "b1", media=1)
    assert len(read_table("media", root, as_of=first)) == 3
    assert len(read_table("media", root, as_of=str(first))) == 3
    assert len(read_table("media", root, as_of=stamp)) == 3
    assert len(read_table("media", root, as_of=stamp.isoformat())) == 3
    assert len(read_table("media", root)) == 1


def test_conflicts_are_retried_with_bounded_jittered_backoff() -> None:
    from deltalake.exceptions import CommitFailedError, DeltaError

    from meetstream_catalog import retry
    from meetstream_catalog.catalog.commit_retry import COMMIT_MIN_TRIES

    calls = iter([CommitFailedError("lost"), CommitFailedError("lost"), "ok"])

    def action() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    with retry.set_testing(True) as testing:
        assert retry_conflicts(action, what="t") == "ok"
        assert len(testing.waits) == 2
        assert all(0 <= w <= 2.0 for w in testing.waits)
        with pytest.raises(Exception, match=r"table .media., bot .b1..*attempts"):
            retry_conflicts(
                lambda: (_ for _ in ()).throw(CommitFailedError("lost")),
                what="catalog table 'media', bot 'b1'",
                budget=5.0,
            )
        # past its budget only once it failed COMMIT_MIN_TRIES times (a slow store)
        assert len(testing.waits[2:]) == COMMIT_MIN_TRIES - 1
        assert sum(testing.waits[2:]) > 5.0
        with pytest.raises(DeltaError, match="schema mismatch"):  # not a race: at once
            retry_conflicts(lambda: (_ for _ in ()).throw(DeltaError("schema mismatch")), what="t")


def test_one_settings_dict_feeds_s3fs_and_delta_rs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    options = {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}
    assert Root("s3://b/c", options).delta_options() == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    assert Root("/tmp/catalog", options).delta_options() is None


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


def test_tables_are_created_with_statistics_on_the_two_lookup_columns_only(root: str) -> None:
    write(root, "b1", meeting_link_redacted="https://zoom.us/j/1")
    for name in CAPTURE_TABLES:
        table = DeltaTable(f"{root}/{name}")
        assert table.metadata().configuration == TABLE_PROPERTIES
        stats = [c for c in table.get_add_actions(flatten=True).column_names if "." in c]
        found = {c.split(".", 1)[1] for c in stats if not c.startswith("partition.")}
        assert found == ({"bot_id", "meeting_link_redacted"} if name == "bots" else {"bot_id"})


def test_writers_checkpoint_every_ten_commits_so_a_fresh_open_replays_few(root: str) -> None:
    for n in range(12):
        write(root, f"b{n}")
    log = Path(root) / "bots" / "_delta_log"
    assert sorted(p.name for p in log.glob("*.checkpoint.parquet")) == [
        "00000000000000000009.checkpoint.parquet"
    ]


def test_writers_leave_expired_log_entries_to_maintenance(root: str) -> None:
    """delta-rs' per-commit cleanup lists the whole log in every commit: writers skip it."""
    from meetstream_catalog.catalog.maintenance import maintain_table

    write(root, "b0")
    short = {"delta.logRetentionDuration": "interval 1 second"}
    DeltaTable(f"{root}/bots").alter.set_table_properties(short)
    for n in range(1, 12):  # past the checkpoint at version 9
        write(root, f"b{n}")
    time.sleep(1.5)  # every entry so far is past the table's log retention
    write(root, "b12")
    log = Path(root) / "bots" / "_delta_log"
    assert (log / f"{0:020d}.json").exists()  # a writer's commit deleted nothing

    maintain_table("bots", root, compact=False, vacuum=False)

    assert not (log / f"{0:020d}.json").exists()
    assert len(read_table("bots", root)) == 13


def test_maintenance_gives_an_older_table_the_properties_once(root: str) -> None:
    from deltalake import write_deltalake

    from meetstream_catalog.catalog.maintenance import maintain_table

    old = TABLE_SCHEMAS["media"].empty_table()
    write_deltalake(f"{root}/media", old, partition_by=["meeting_date"])  # no properties
    write(root, "b1")  # an existing table keeps its configuration on later writes
    assert DeltaTable(f"{root}/media").metadata().configuration == {}
    maintain_table("media", root, vacuum=False)
    assert DeltaTable(f"{root}/media").metadata().configuration == TABLE_PROPERTIES
    version = DeltaTable(f"{root}/media").version()
    maintain_table("media", root, compact=False, vacuum=False)
    assert DeltaTable(f"{root}/media").version() == version  # nothing left to set


def test_a_kept_writer_handle_sees_commits_made_elsewhere(root: str) -> None:
    from deltalake import write_deltalake

    from meetstream_catalog.catalog.arrow_tables import bots_table

    write(root, "b1")  # this thread now holds handles on the three tables
    other = bots_table(BotRecord(bot_id="b2", meeting_date=DAY, platform="zoom"))
    write_deltalake(f"{root}/bots", other, mode="append")  # another process's commit
    write(root, "b1", media=3)  # replaces b1 on top of the other commit, not beside it
    assert sorted(read_table("bots", root)["bot_id"]) == ["b1", "b2"]
    assert len(read_table("media", root)) == 3


def test_a_kept_reader_handle_follows_the_table_and_survives_its_re_creation(
    root: str,
) -> None:
    import shutil

    from deltalake import write_deltalake

    from meetstream_catalog.catalog.arrow_tables import bots_table

    for n in range(3):
        write(root, f"b{n}")
    assert sorted(read_table("bots", root)["bot_id"]) == ["b0", "b1", "b2"]  # handle kept
    other = bots_table(BotRecord(bot_id="b9", meeting_date=DAY, platform="zoom"))
    write_deltalake(f"{root}/bots", other, mode="append")  # another process's commit
    assert sorted(read_table("bots", root)["bot_id"]) == ["b0", "b1", "b2", "b9"]

    shutil.rmtree(f"{root}/bots")  # deleted and created again, at a lower version
    write(root, "b5")
    assert read_table("bots", root)["bot_id"].tolist() == ["b5"]


def events_of(bot_id: str, *names: str) -> list[dict[str, object]]:
    from meetstream_catalog.catalog.events import event_row

    received = dt.datetime(2025, 3, 14, 12, tzinfo=dt.UTC)
    return [
        event_row({"bot_id": bot_id, "event": name, "timestamp": received.isoformat()}, received)
        for name in names
    ]


def test_webhook_events_are_a_delta_table_like_the_others(root: str) -> None:
    from meetstream_catalog.catalog.events import append_events

    append_events(root, events_of("b1", "bot.joining", "bot.inmeeting"))
    append_events(root, events_of("b2", "bot.done"))
    table = DeltaTable(f"{root}/bot_events")
    assert table.metadata().partition_columns == ["event_date"]
    assert table.metadata().configuration == TABLE_PROPERTIES
    assert table.history(1)[0]["meetstream.schema_version"] == "2"
    assert pa.schema(table.schema().to_arrow()) == TABLE_SCHEMAS["bot_events"]
    for uri in table.file_uris():
        assert pq.ParquetFile(uri).metadata.row_group(0).column(0).compression == "ZSTD"
    frame = read_table("bot_events", root, filters=[("event_date", "=", "2025-03-14")])
    assert sorted(frame["event"]) == ["bot.done", "bot.inmeeting", "bot.joining"]
    assert list(frame.columns) == TABLE_SCHEMAS["bot_events"].names


def test_an_event_append_that_lost_a_race_is_retried_once_not_doubled(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake import write_deltalake
    from deltalake.exceptions import CommitFailedError

    from meetstream_catalog.catalog import append, events

    calls: list[str] = []

    def lose_once(*args: object, **kwargs: object) -> None:
        calls.append("try")
        if len(calls) == 1:  # e.g. maintenance changed the table's properties meanwhile
            raise CommitFailedError("concurrent metadata change")
        write_deltalake(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(append, "write_deltalake", lose_once)
    events.append_events(root, events_of("b1", "bot.done"))
    assert len(calls) == 2
    assert read_table("bot_events", root)["event"].tolist() == ["bot.done"]


def test_maintenance_compacts_vacuums_and_checkpoints_the_event_log(root: str) -> None:
    from meetstream_catalog.catalog.events import append_events
    from meetstream_catalog.catalog.maintenance import maintain

    for n in range(3):
        append_events(root, events_of(f"b{n}", "bot.joining", "bot.done"))
    assert len(DeltaTable(f"{root}/bot_events").file_uris()) == 3

    reports = {r.table: r for r in maintain(root, retention_days=0)}
    assert set(reports) == set(TABLES)
    events = reports["bot_events"]
    assert (events.files_compacted, events.files_written, events.files_vacuumed) == (3, 1, 3)
    assert events.checkpoint
    assert len(DeltaTable(f"{root}/bot_events").file_uris()) == 1
    assert len(read_table("bot_events", root)) == 6
    assert reports["bots"].version_before is None  # nothing captured: reported, untouched


def test_compaction_sorts_each_crowded_day_by_bot_id_and_leaves_settled_days(
    root: str,
) -> None:
    import random
    import uuid

    from meetstream_catalog.catalog.maintenance import maintain_table

    write(root, "late", day=OTHER_DAY)  # a day with one file is left as it is
    settled = DeltaTable(f"{root}/media").file_uris()
    rng = random.Random(3)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(24)]
    for bot_id in ids:  # one small file per bot, committed in no particular id order
        write(root, bot_id, media=3, people=1)

    report = maintain_table("media", root, vacuum=False)

    assert (report.files_compacted, report.files_written) == (24, 1)
    [today] = [f for f in DeltaTable(f"{root}/media").file_uris() if f not in settled]
    assert set(settled) < set(DeltaTable(f"{root}/media").file_uris())
    stored = pq.read_table(today, columns=["bot_id"])["bot_id"].to_pylist()
    assert stored == sorted(stored)  # clustered, not appended in commit order
    assert set(stored) == set(ids)


def test_maintenance_gives_an_older_event_log_the_table_properties(root: str) -> None:
    from deltalake import write_deltalake

    from meetstream_catalog.catalog.events import append_events
    from meetstream_catalog.catalog.maintenance import maintain_table

    old = pa.Table.from_pylist(events_of("b1", "bot.joining"), TABLE_SCHEMAS["bot_events"])
    write_deltalake(f"{root}/bot_events", old, partition_by=["event_date"])  # the old receiver
    append_events(root, events_of("b1", "bot.done"))  # keeps the table's configuration
    assert DeltaTable(f"{root}/bot_events").metadata().configuration == {}
    maintain_table("bot_events", root, vacuum=False)
    assert DeltaTable(f"{root}/bot_events").metadata().configuration == TABLE_PROPERTIES
    append_events(root, events_of("b1", "bot.stopped"))
    assert len(read_table("bot_events", root)) == 3
