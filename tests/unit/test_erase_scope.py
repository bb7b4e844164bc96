"""Erasure planning, without storage: which tables, in which order, which rows."""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from meetstream_catalog.catalog.erase_scope import (
    ERASE_ORDER,
    NOT_ERASED,
    PARTICIPANT_TABLES,
    Subject,
    arrow_filter,
    sql_predicate,
)
from meetstream_catalog.catalog.schema import TABLE_SCHEMAS, TABLES
from meetstream_catalog.cli.erase_command import subject_of


def test_every_table_is_erased_or_says_why_not() -> None:
    assert set(ERASE_ORDER) | set(NOT_ERASED) == set(TABLES)
    assert not set(ERASE_ORDER) & set(NOT_ERASED)


def test_the_bots_row_goes_last_and_no_row_outlives_what_it_names() -> None:
    order = list(ERASE_ORDER)
    assert order[-1] == "bots"
    # participants.audio_key names a media row; utterances and words name speech turns
    assert order.index("participants") < order.index("media")
    assert order.index("words") < order.index("utterances") < order.index("speech")


def test_participant_tables_all_have_a_participant_key() -> None:
    for name in PARTICIPANT_TABLES:
        assert "participant_key" in TABLE_SCHEMAS[name].names


def test_a_subject_needs_an_id_and_says_its_kind() -> None:
    with pytest.raises(ValueError, match="needs a bot id"):
        Subject()
    with pytest.raises(ValueError, match="NUL"):
        Subject(bot_id="a\x00b")
    assert Subject(bot_id="b").kind == "bot"
    assert Subject(bot_id="b", participant_key="ann").kind == "participant"
    assert Subject(participant_key="ann").kind == "participant_everywhere"
    assert Subject(participant_key="ann").tables() == PARTICIPANT_TABLES
    assert Subject(bot_id="b").tables() == ERASE_ORDER


def test_predicates_quote_ids_and_take_the_shared_recordings_of_a_participant() -> None:
    assert sql_predicate(Subject(bot_id="o'b"), "media") == "bot_id = 'o''b'"
    one = sql_predicate(Subject(bot_id="b", participant_key="ann"), "media")
    assert one == (
        "bot_id = 'b' AND (participant_key = 'ann' OR kind IN ('mixed_audio', 'composite_video'))"
    )
    assert sql_predicate(Subject(participant_key="ann"), "speech") == "participant_key = 'ann'"


ROWS = pa.table(
    {
        "bot_id": ["b1", "b1", "b1", "b2", "b2", "b3"],
        "participant_key": ["ann", "bob", None, "ann", None, "bob"],
        "kind": ["audio", "audio", "mixed_audio", "webcam", "composite_video", "audio"],
    }
)


@pytest.mark.parametrize(
    ("subject", "bots", "left"),
    [
        (Subject(bot_id="b1"), (), 3),
        (Subject(bot_id="b1", participant_key="ann"), (), 4),
        (Subject(participant_key="ann"), ("b1", "b2"), 2),
    ],
)
def test_the_sql_predicate_and_the_arrow_filter_select_the_same_rows(
    tmp_path: Path, subject: Subject, bots: tuple[str, ...], left: int
) -> None:
    expected = ROWS.filter(~arrow_filter(subject, "media", bots))
    write_deltalake(str(tmp_path), ROWS)
    table = DeltaTable(str(tmp_path))
    table.delete(sql_predicate(subject, "media", bots))
    kept = pa.table(DeltaTable(str(tmp_path)).to_pyarrow_table()).sort_by("bot_id")
    assert kept.num_rows == expected.num_rows == left
    assert kept.to_pylist() == expected.sort_by("bot_id").to_pylist()


def _args(**given: object) -> argparse.Namespace:
    base = {"bot": None, "participant": None, "participant_key": None, "everywhere": False}
    return argparse.Namespace(**{**base, **given})


def test_the_options_name_one_subject_or_say_what_is_missing() -> None:
    assert subject_of(_args(bot="b")) == Subject(bot_id="b")
    assert subject_of(_args(bot="b", participant="  José  DÍAZ ")) == Subject(
        bot_id="b", participant_key="josé díaz"
    )
    assert subject_of(_args(participant_key="ann", everywhere=True)) == Subject(
        participant_key="ann"
    )
    assert "--everywhere" in str(subject_of(_args(participant="Ann")))
    assert "exclude" in str(subject_of(_args(bot="b", participant="Ann", everywhere=True)))
    assert "--bot" in str(subject_of(_args()))
