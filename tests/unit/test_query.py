"""SQL over the catalog (`meetstream_catalog.catalog.query`) and the `query` / `tables`
subcommands."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog import dataset, open_table, query, read_table, write_bot
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.cli.main import main

DAY = dt.date(2025, 3, 14)
OTHER_DAY = dt.date(2025, 3, 15)


def write(root: str, bot_id: str, day: dt.date, names: list[str]) -> None:
    media = [
        ArchivedMedia(
            bot_id=bot_id,
            kind="audio",
            participant_name=name,
            stream_id=f"{bot_id}-{i}",
            key=f"{bot_id}/{i}.webm",
            storage_uri=f"s3://media/{bot_id}/{i}.webm",
            bytes=100,
            sha256="0" * 64,
            duration_seconds=10.0 * (i + 1),
        )
        for i, name in enumerate(names)
    ]
    people = [
        ParticipantRow(
            bot_id=bot_id,
            participant_key=name.casefold(),
            participant_name=name,
            match="audio_only",
            audio_seconds=10.0 * (i + 1),
            webcam_stream_ids=[f"cam-{i}"],
        )
        for i, name in enumerate(names)
    ]
    bot = BotRecord(bot_id=bot_id, meeting_date=day, platform="zoom", outcome="captured")
    write_bot(root, bot=bot, media=media, participants=people)


@pytest.fixture
def root(tmp_path: Path) -> str:
    root = str(tmp_path / "catalog")
    write(root, "b1", DAY, ["Ann", "Bo | *x*"])
    write(root, "b2", OTHER_DAY, ["Ann"])
    return root


def spoil_day(root: str, table: str, day: str) -> None:
    """Make the committed files of one partition unreadable: reading them fails the query."""
    for path in Path(root, table, f"meeting_date={day}").glob("*.parquet"):
        path.write_bytes(b"not parquet")


def test_the_three_tables_are_views_with_typed_partition_column(root: str) -> None:
    result = query.run_query(
        "select meeting_date, count(*) n from participants group by 1 order by 1", root
    )
    assert result.to_pylist() == [
        {"meeting_date": DAY, "n": 2},
        {"meeting_date": OTHER_DAY, "n": 1},
    ]
    joined = query.run_query(
        "select b.platform, m.participant_name from bots b join media m using (bot_id) "
        "where m.duration_seconds > 15",
        root,
    )
    assert joined.to_pylist() == [{"platform": "zoom", "participant_name": "Bo | *x*"}]


def test_a_meeting_date_filter_never_opens_other_partitions(root: str) -> None:
    spoil_day(root, "bots", "2025-03-14")
    sql = "select bot_id from bots where meeting_date = '2025-03-15'"
    assert query.run_query(sql, root).to_pylist() == [{"bot_id": "b2"}]
    with pytest.raises(query.QueryError):  # proof that the spoiled file is otherwise read
        query.run_query("select count(*) from bots", root)


def test_read_table_prunes_partitions_and_files(root: str) -> None:
    write(root, "b3", OTHER_DAY, ["Cy"])
    spoil_day(root, "media", "2025-03-14")
    frame = read_table("media", root, filters=[("meeting_date", ">=", "2025-03-15")])
    assert sorted(frame["bot_id"].unique()) == ["b2", "b3"]
    # A filter on a regular column is checked against each file's min/max statistics
    # (from the Delta log) before any file is opened.
    one_bot = read_table("media", root, filters=[("bot_id", "=", "b3")], columns=["bot_id"])
    assert one_bot["bot_id"].tolist() == ["b3"]
    fragments = list(dataset("media", root).get_fragments(filter=ds.field("bot_id") == "b3"))
    assert len(fragments) == 1


def test_an_absent_catalog_queries_as_empty_tables(tmp_path: Path) -> None:
    root = str(tmp_path / "nothing")
    assert query.run_query("select count(*) n from media", root).to_pylist() == [{"n": 0}]
    assert query.missing_tables(root) == [
        *("bots", "media", "participants", "speech", "utterances", "words"),
        *("bot_events", "intents", "exports", "erasures"),
    ]


def test_query_on_an_absent_catalog_says_which_root_it_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # run outside a project: the default root is relative
    assert main(["query", "select count(*) n from bot_events"]) == 0
    err = capsys.readouterr().err
    assert f"no catalog tables under {tmp_path / 'data' / 'catalog'}" in err
    assert "MEETSTREAM_CATALOG_ROOT" in err


def test_webhook_events_are_a_view_and_a_described_table(root: str) -> None:
    from meetstream_catalog.catalog.events import append_events, event_row

    received = dt.datetime(2025, 3, 14, 9, tzinfo=dt.UTC)
    append_events(root, [event_row({"bot_id": "b1", "event": "bot.done"}, received)])
    sql = "select bot_id, event, event_date from bot_events"
    rows = query.run_query(sql, root).to_pylist()
    assert rows == [{"bot_id": "b1", "event": "bot.done", "event_date": DAY}]
    info = {i.name: i for i in query.describe_tables(root)}["bot_events"]
    assert (info.rows, info.files, info.partitions) == (1, 1, 1)
    assert [c.name for c in info.columns if c.partition] == ["event_date"]
    text = query.format_tables([info])
    assert text.startswith("bot_events: 1 rows in 1 files, 1 partitions (event_date)")


def test_queries_travel_in_time_by_version_or_timestamp(root: str) -> None:
    version = open_table("bots", root)
    assert version is not None
    before = dt.datetime.now(dt.UTC).isoformat()
    write(root, "b3", DAY, ["Cy"])
    sql = "select count(*) as n from bots"
    assert query.run_query(sql, root).to_pylist() == [{"n": 3}]
    assert query.run_query(sql, root, as_of=before).to_pylist() == [{"n": 2}]
    assert query.run_query(sql, root, as_of=version.version()).to_pylist() == [{"n": 2}]
    with pytest.raises(query.QueryError, match="as of"):
        query.run_query(sql, root, as_of="not a time")


def test_query_command_takes_as_of(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    write(root, "b3", DAY, ["Cy"])
    args = ["query", "select count(*) as n from bots", "--catalog-root", root, "--format", "csv"]
    assert main([*args, "--as-of", "0"]) == 0  # version 0: the first bot only
    assert capsys.readouterr().out == "n\n1\n"


def test_sql_errors_are_one_line(root: str) -> None:
    with pytest.raises(query.QueryError) as info:
        query.run_query("selec 1", root)
    assert "\n" not in str(info.value)
    assert "syntax error" in str(info.value)


def test_csv_and_json_keep_types_readable(root: str) -> None:
    table = query.run_query(
        "select participant_name, meeting_date, webcam_stream_ids, audio_seconds, "
        "speaker_cap_reached, audio_key from participants where bot_id = 'b1' "
        "order by participant_name",
        root,
    )
    out = io.StringIO()
    query.write_result(table, "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[1] == {
        "participant_name": "Bo | *x*",
        "meeting_date": "2025-03-14",
        "webcam_stream_ids": '["cam-1"]',
        "audio_seconds": "20.0",
        "speaker_cap_reached": "false",
        "audio_key": "",
    }
    out = io.StringIO()
    query.write_result(table, "json", out)
    assert json.loads(out.getvalue())[0] == {
        "participant_name": "Ann",
        "meeting_date": "2025-03-14",
        "webcam_stream_ids": ["cam-0"],
        "audio_seconds": 10.0,
        "speaker_cap_reached": False,
        "audio_key": None,
    }


def test_parquet_output_needs_a_file(root: str, tmp_path: Path) -> None:
    table = query.run_query("select * from bots", root)
    with pytest.raises(ValueError, match="--output"):
        query.write_result(table, "parquet")
    target = tmp_path / "out.parquet"
    query.write_result(table, "parquet", output=str(target))
    assert pq.read_table(target).num_rows == 2


def test_query_command_prints_a_table_and_csv(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "select bot_id from bots order by 1", "--catalog-root", root]) == 0
    text = capsys.readouterr().out
    assert "bot_id" in text
    assert "b2" in text
    args = ["query", "select count(*) as n from media", "--catalog-root", root, "--format", "csv"]
    assert main(args) == 0
    assert capsys.readouterr().out == "n\n3\n"


def test_query_command_reads_the_root_from_the_environment(
    root: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEETSTREAM_CATALOG_ROOT", root)
    assert main(["query", "select count(*) as n from bots", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 2}]


def test_query_command_exits_2_on_bad_sql_without_a_traceback(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "select nope from bots", "--catalog-root", root]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Binder Error")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_query_command_explains_how_to_install_duckdb(
    root: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # makes `import duckdb` raise
    assert main(["query", "select 1", "--catalog-root", root]) == 1
    assert "pip install 'meetstream-catalog[query]'" in capsys.readouterr().err


def test_tables_command_describes_version_files_rows_and_maintenance(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from meetstream_catalog.catalog.maintenance import maintain

    infos = {i.name: i for i in query.describe_tables(root)}
    assert (infos["media"].rows, infos["media"].files, infos["media"].partitions) == (3, 2, 2)
    assert infos["bots"].version == 1
    assert infos["bots"].last_optimize is None
    assert infos["bots"].columns[1] == query.ColumnInfo(
        "meeting_date", "date32[day]", False, partition=True
    )
    write(root, "b3", DAY, ["Cy"])  # two small files in one partition: something to compact
    maintain(root, retention_days=0)  # the compacted-away files are vacuumed at once
    assert main(["tables", "--catalog-root", root]) == 0
    text = capsys.readouterr().out
    assert "participants: 4 rows in 2 files, 2 partitions" in text
    assert "last optimize 20" in text
    assert "last vacuum 20" in text
    assert "bot_id  " in text
    assert "not null" in text
    assert main(["tables", "--catalog-root", root, "--format", "json"]) == 0
    described = json.loads(capsys.readouterr().out)
    names = ["bots", "media", "participants", "speech", "utterances", "words"]
    names += ["bot_events", "intents", "exports", "erasures"]
    assert [t["name"] for t in described] == names
    never_written = {"speech", "utterances", "words", "bot_events", "intents"}
    never_written |= {"exports", "erasures"}
    assert all(t["last_vacuum"] for t in described if t["name"] not in never_written)


def test_a_query_opens_only_the_tables_it_reads() -> None:
    from meetstream_catalog.catalog.query import referenced_tables
    from meetstream_catalog.catalog.schema import TABLES

    assert referenced_tables("select count(*) from participants") == ("participants",)
    joined = "with b as (select * from bots) select * from b join media m on m.bot_id = b.bot_id"
    assert set(referenced_tables(joined)) == {"bots", "media"}
    assert referenced_tables("show tables") == tuple(TABLES)  # names none: every table
    # DuckDB binds USING joins to name their tables; unsure, it registers everything
    assert referenced_tables("select * from bots join media using (bot_id)") == tuple(TABLES)
