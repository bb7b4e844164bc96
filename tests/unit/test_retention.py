"""Retention decides from committed rows and re-read objects; anything unproven keeps the data."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from meetstream_catalog import catalog
from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.meetstream.errors import MeetStreamError
from meetstream_catalog.retention import delete_if_archived, record_deletion, verify_archive
from meetstream_catalog.roots import Root
from tests.unit.conftest import FakeAPI

BOT = "bot-ret-1"
WHEN = dt.datetime(2026, 5, 26, 12, 0, tzinfo=dt.UTC)


def _archive(
    tmp_path: Path, outcome: str = "captured", files: int = 3
) -> tuple[str, str, list[str]]:
    """A committed bot whose files are in a local media root; returns (catalog, media, keys)."""
    media_root, catalog_root = tmp_path / "media", str(tmp_path / "catalog")
    rows = []
    for i in range(files):
        key = f"{BOT}/audio/p{i}/{i}.webm"
        data = f"file {i} ".encode() * (100 + i)
        (media_root / key).parent.mkdir(parents=True, exist_ok=True)
        (media_root / key).write_bytes(data)
        rows.append(
            ArchivedMedia(
                bot_id=BOT, kind="audio", participant_name=f"P{i}", stream_id=f"s{i}", key=key,
                storage_uri=f"file://{media_root / key}", bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )  # fmt: skip
    record = catalog.bot_record(
        bot_id=BOT, outcome=outcome, created_at=WHEN, media=rows, meeting_link="https://zoom.us/j/1"
    )
    catalog.write_bot(catalog_root, bot=record, media=rows, participants=[])
    return catalog_root, str(media_root), [r.key for r in rows]


def _bot_row(catalog_root: str) -> dict[str, object]:
    rows = catalog.read_table("bots", catalog_root).to_dict("records")
    assert len(rows) == 1
    return rows[0]


async def _run(api: FakeAPI, make_client, catalog_root: str, media_root: str, keys: list[str]):
    return await delete_if_archived(
        make_client(),
        BOT,
        keys,
        catalog_root=Root(catalog_root),
        media_root=Root(media_root),
        now=lambda: WHEN,
    )


async def test_a_verified_archive_is_deleted_at_meetstream_and_recorded(
    tmp_path: Path, api: FakeAPI, make_client
) -> None:
    catalog_root, media_root, keys = _archive(tmp_path)
    api.add(200, {"message": "Bot data deleted.", "bot_id": BOT, "deleted_objects": 5})

    done = await _run(api, make_client, catalog_root, media_root, keys)

    assert (done.deleted, done.recorded, done.deleted_objects) == (True, True, 5)
    assert [(r.method, r.url.path) for r in api.requests] == [
        ("DELETE", f"/api/v1/bots/{BOT}/delete")
    ]
    row = _bot_row(catalog_root)
    assert row["deleted_at"] == WHEN
    assert row["deleted_objects"] == 5
    assert row["outcome"] == "captured"
    assert row["media_files"] == 3  # the rest of the row is kept as it was


def _drop_listed_file(catalog_root: str, media_root: str, keys: list[str]) -> list[str]:
    return [*keys, f"{BOT}/webcam/p9/0.webm"]  # listed by the manifest, never archived


def _truncate(catalog_root: str, media_root: str, keys: list[str]) -> list[str]:
    path = Path(media_root) / keys[1]
    path.write_bytes(path.read_bytes()[:-1])
    return keys


def _flip_a_byte(catalog_root: str, media_root: str, keys: list[str]) -> list[str]:
    path = Path(media_root) / keys[2]
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    return keys


def _remove_object(catalog_root: str, media_root: str, keys: list[str]) -> list[str]:
    (Path(media_root) / keys[0]).unlink()
    return keys


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_drop_listed_file, "not catalogued"),
        (_truncate, "bytes in storage"),
        (_flip_a_byte, "sha256"),
        (_remove_object, "not in storage"),
    ],
)
async def test_an_unverified_archive_is_never_deleted_and_no_call_is_made(
    tmp_path: Path, api: FakeAPI, make_client, damage, why: str
) -> None:
    catalog_root, media_root, keys = _archive(tmp_path)
    keys = damage(catalog_root, media_root, keys)

    done = await _run(api, make_client, catalog_root, media_root, keys)

    assert not done.deleted
    assert why in done.reason
    assert api.requests == []
    assert pd.isna(_bot_row(catalog_root)["deleted_at"])


@pytest.mark.parametrize("outcome", ["partial", "failed", "error", "no_media", "in_progress"])
async def test_a_bot_that_is_not_captured_is_never_deleted(
    tmp_path: Path, api: FakeAPI, make_client, outcome: str
) -> None:
    catalog_root, media_root, keys = _archive(tmp_path, outcome=outcome)

    done = await _run(api, make_client, catalog_root, media_root, keys)

    assert not done.deleted
    assert outcome in done.reason
    assert api.requests == []


async def test_nothing_to_verify_is_not_a_reason_to_delete(
    tmp_path: Path, api: FakeAPI, make_client
) -> None:
    catalog_root, media_root, _ = _archive(tmp_path, files=0)
    done = await _run(api, make_client, catalog_root, media_root, [])
    assert not done.deleted
    assert api.requests == []


async def test_a_failed_delete_raises_and_the_row_says_not_deleted(
    tmp_path: Path, api: FakeAPI, make_client
) -> None:
    catalog_root, media_root, keys = _archive(tmp_path)
    api.add(409, {"message": "The bot is still in the meeting; remove it first."})

    with pytest.raises(MeetStreamError):
        await _run(api, make_client, catalog_root, media_root, keys)

    assert pd.isna(_bot_row(catalog_root)["deleted_at"])


def test_an_already_deleted_bot_is_not_deleted_twice(tmp_path: Path) -> None:
    catalog_root, media_root, keys = _archive(tmp_path)

    record_deletion(Root(catalog_root), BOT, WHEN, 3)
    verdict = verify_archive(
        BOT, keys, catalog_root=Root(catalog_root), media_root=Root(media_root)
    )
    assert not verdict.safe
    assert "already deleted" in verdict.reason
