"""`meetstream-catalog erase` on a local catalog with real files and exports: the subject
leaves media, every table, every readable version and the export folders; everyone else
stays as they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from meetstream_catalog.catalog import open_table, read_table
from meetstream_catalog.catalog.audit import erasure_events, exports_of
from meetstream_catalog.catalog.erase_scope import ERASE_ORDER
from meetstream_catalog.catalog.history import ErasedVersionError
from meetstream_catalog.catalog.schema import TABLES
from meetstream_catalog.cli.main import main
from meetstream_catalog.roots import Root
from meetstream_catalog.simulator.state import DEMO_API_KEY
from tests.integration.erase_catalog import build

FORMATS = ("lhotse", "audiofolder", "rttm", "nemo", "ctm")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    build(Root(str(tmp_path / "catalog")), Root(str(tmp_path / "media")))
    return tmp_path


def cli(home: Path, *args: str) -> int:
    roots = ["--catalog-root", str(home / "catalog")]
    if args[0] == "erase":
        roots += ["--media-root", str(home / "media")]
    return main([*args, *roots])


def snapshot(folder: Path) -> dict[str, str]:
    """{path: sha256} of every file under `folder`."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def subject_rows_in_storage(catalog: Path, bot: str | None, key: str | None) -> list[str]:
    """Every data file under the tables that still holds a row of the subject (read with
    pyarrow, whatever its encoding)."""
    found = []
    for name in ERASE_ORDER:
        for path in (catalog / name).rglob("*.parquet"):
            if "_delta_log" in path.parts:
                continue
            data = pq.read_table(path)
            mask = pa.array([True] * data.num_rows)
            if bot is not None:
                mask = pc.and_(mask, pc.equal(data["bot_id"].cast(pa.string()), bot))
            if key is not None:
                if "participant_key" not in data.column_names:
                    continue
                keys = data["participant_key"].cast(pa.string())
                mask = pc.and_kleene(mask, pc.equal(keys, key))
            if pc.any(pc.fill_null(mask, False)).as_py():
                found.append(str(path))
    return found


def export_all(home: Path) -> None:
    for fmt in FORMATS:
        assert cli(home, "export", fmt, str(home / "exports" / fmt)) == 0


def test_an_export_run_is_recorded_with_bots_and_participant_digests_only(home: Path) -> None:
    export_all(home)
    records = exports_of(Root(str(home / "catalog")))
    assert [r.format for r in records] == list(FORMATS)
    assert all(set(r.bot_ids) == {"bot-a", "bot-b"} for r in records)
    assert all(len(r.participant_digests) == 2 for r in records)
    assert all(r.location.startswith("file:///") for r in records)


def test_the_dry_run_lists_what_would_go_and_changes_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export_all(home)
    capsys.readouterr()
    before = snapshot(home)
    assert cli(home, "erase", "--participant", "ann  LEE", "--bot", "bot-a") == 0
    out = capsys.readouterr().out
    assert snapshot(home) == before
    assert "files (3):" in out  # her audio and webcam, and the meeting's mixed audio
    for line in ("  speech: 1", "  words: 1", "  media: 3", "  participants: 1"):
        assert line in out
    assert out.count("/exports/") == len(FORMATS)
    assert "dry run: nothing was changed" in out
    assert cli(home, "erase", "--participant", "Ann Lee", "--bot", "bot-a", "--yes") == 2


def test_a_participant_leaves_one_meeting_everywhere_and_the_rest_stays(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog, media = Root(str(home / "catalog")), home / "media"
    export_all(home)
    capsys.readouterr()
    old = open_table("speech", catalog)
    assert old is not None
    old_version = old.version()
    before = read_table("speech", catalog, as_of=old_version)
    assert "ann lee" in set(before["participant_key"])
    others = {k: v for k, v in snapshot(media).items() if "ann-lee" not in k or "bot-b" in k}
    others.pop("bot-a/mixed_audio/0.wav")

    assert cli(home, "erase", "--participant", "Ann Lee", "--bot", "bot-a",
               "--yes", "--reason", "DSR-17") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "erased: 3 files" in out

    # media: hers (and the shared recording) gone, everyone else's byte for byte
    assert snapshot(media) == others
    # tables, now: none of her rows in bot-a, hers in bot-b and Bob's untouched
    for name in ("media", "participants", "speech", "utterances", "words"):
        rows = read_table(name, catalog)
        mine = rows[(rows.bot_id == "bot-a") & (rows.participant_key == "ann lee")]
        assert mine.empty, name
        assert ((rows.bot_id == "bot-b") & (rows.participant_key == "ann lee")).sum() > 0
        assert (rows.participant_key == "bob stone").sum() == (4 if name == "media" else 2)
    bot = read_table("bots", catalog).set_index("bot_id").loc["bot-a"]
    assert (bot.media_files, bot.speech_turns, bot.utterances) == (2, 1, 1)
    assert list(bot.missing_files) == []
    # history: no data file under any table still holds her rows of bot-a
    assert subject_rows_in_storage(home / "catalog", "bot-a", "ann lee") == []
    # an older version that held her rows: refused with one clear line
    line = f"version {old_version} of table 'speech' is no longer readable: it held data erased"
    with pytest.raises(ErasedVersionError, match=line + r" on .* \(erasure id \w+\)"):
        read_table("speech", catalog, as_of=old_version)
    assert cli(home, "query", "select count(*) from speech", "--as-of", str(old_version)) == 2
    assert "is no longer readable: it held data erased on" in capsys.readouterr().err
    # the version the erasure wrote reads
    now = open_table("speech", catalog)
    assert now is not None
    assert len(read_table("speech", catalog, as_of=now.version())) == 3
    # exports: her lines and files gone from each folder
    rttm = (home / "exports/rttm/bot-a.rttm").read_text()
    assert "Ann" not in rttm
    assert "Bob" in rttm
    assert not list((home / "exports/audiofolder/bot-a").glob("a0_*"))
    nemo = (home / "exports/nemo/manifest.jsonl").read_text().splitlines()
    assert [json.loads(x)["meeting"] for x in nemo if "Ann" in x] == ["bot-b"]
    assert "Ann" not in (home / "exports/ctm/bot-a.ctm").read_text()
    # the audit: one erasure, done, ids and a digest only
    events = erasure_events(catalog)
    assert [e.state for e in events] == ["started", "purging", "done"]
    assert (events[-1].reason, events[-1].rows_removed) == ("DSR-17", 7)
    for table in ("erasures", "exports"):
        text = str(read_table(table, catalog).to_dict()).lower()
        assert "ann lee" not in text
    assert cli(home, "erasures") == 0
    listing = capsys.readouterr().out
    assert "done" in listing
    assert "'DSR-17'  files=3 rows=7" in listing


def test_a_participant_everywhere_leaves_every_meeting(home: Path) -> None:
    catalog = Root(str(home / "catalog"))
    assert cli(home, "erase", "--participant-key", "ann lee", "--everywhere",
               "--yes", "--reason", "DSR-18") == 0  # fmt: skip
    for name in ("media", "participants", "speech", "utterances", "words"):
        rows = read_table(name, catalog)
        assert (rows.participant_key == "ann lee").sum() == 0
        assert (rows.participant_key == "bob stone").sum() > 0
    assert subject_rows_in_storage(home / "catalog", None, "ann lee") == []
    assert not [p for p in (home / "media").rglob("*") if "ann-lee" in str(p) and p.is_file()]


def test_a_meeting_leaves_every_table_its_files_and_meetstream(
    home: Path, simulator_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpx.post(simulator_server.removesuffix("/api/v1") + "/_simulator/reset").raise_for_status()
    monkeypatch.setenv("MEETSTREAM_API_URL", simulator_server)
    monkeypatch.setenv("MEETSTREAM_API_KEY", DEMO_API_KEY)
    catalog = Root(str(home / "catalog"))
    export_all(home)
    assert cli(home, "erase", "--bot", "bot-a", "--yes", "--reason", "ticket 9") == 0
    for name in TABLES:
        rows = read_table(name, catalog)
        if "bot_id" in rows and name not in ("erasures",):
            assert (rows.bot_id == "bot-a").sum() == 0, name
    assert len(read_table("bots", catalog)) == 1
    assert subject_rows_in_storage(home / "catalog", "bot-a", None) == []
    assert not (home / "media/bot-a").exists() or not any(
        p.is_file() for p in (home / "media/bot-a").rglob("*")
    )
    assert not (home / "exports/rttm/bot-a.rttm").exists()
    assert not (home / "exports/rttm/bot-a.uem").exists()
    assert (home / "exports/rttm/bot-b.rttm").exists()
    listed = "".join(p.read_text() for p in (home / "exports/rttm").glob("meetstream.*.lst"))
    assert "bot-a" not in listed  # the pyannote protocol names no erased meeting
    assert "bot-b" in listed
    calls = httpx.get(simulator_server.removesuffix("/api/v1") + "/_simulator/requests").json()
    assert calls["by_bot"]["bot-a"]["delete"] == 1  # unknown there: "already deleted", fine
    done = erasure_events(catalog)[-1]
    assert (done.state, done.meetstream_deleted) == ("done", False)
    # run again: nothing left, and it says so without failing
    assert cli(home, "erase", "--bot", "bot-a", "--yes", "--reason", "ticket 9") == 0
    assert erasure_events(catalog)[-1].rows_removed == 0


def test_media_retention_interrupted_after_marking_rows_finishes_on_the_next_run(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meetstream_catalog.erase import expiry

    catalog, media = Root(str(home / "catalog")), Root(str(home / "media"))

    def crash(uri: str, root: Root) -> bool:
        raise OSError("storage went away")

    monkeypatch.setattr(expiry, "delete_media_file", crash)
    with pytest.raises(OSError, match="went away"):
        expiry.expire_media(catalog, media, older_than_days=30)
    assert read_table("media", catalog).media_erased_at.notna().all()  # rows first
    assert erasure_events(catalog)[-1].state == "failed"
    monkeypatch.undo()
    done = expiry.expire_media(catalog, media, older_than_days=30)
    assert (done.rows_marked, done.files_removed) == (0, 10)  # resumed: marked already
    assert not [p for p in (home / "media").rglob("*") if p.is_file()]


def test_a_meeting_is_not_erased_without_a_way_to_reach_meetstream(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(home)
    assert cli(home, "erase", "--bot", "bot-a", "--yes", "--reason", "r") == 2
    assert "--skip-meetstream" in capsys.readouterr().err
    assert snapshot(home) == before
