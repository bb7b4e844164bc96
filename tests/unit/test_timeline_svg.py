"""A meeting's timeline as SVG: a row per participant, bars where they spoke, a band where
people talk at once, disagreeing utterances in their own colour; hostile names escaped, no
URL, the same bytes for the same rows; and its bounded markdown artifact."""

from __future__ import annotations

import base64
import datetime as dt
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from meetstream_catalog.catalog import bot_record, write_bot
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.catalog.timeline import (
    MeetingTimeline,
    TimelineUnavailableError,
    build_timeline,
    overlaps,
    read_timeline,
)
from meetstream_catalog.catalog.timeline_svg import (
    COLOURS,
    render_svg,
    timeline_markdown,
    x_of,
)
from meetstream_catalog.catalog.utterances import Speaker, UtteranceRow
from meetstream_catalog.roots import Root

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(\"x\")</script> & 'Ω' \u202eevil\u202c \x00\x1b 🎉 مريم"


def turn(n: int, key: str | None, name: str | None, device: str | None, start: float,
         end: float) -> SpeechRow:  # fmt: skip
    return SpeechRow(bot_id="b1", turn_index=n, participant_name=name, participant_key=key,
                     device_id=device, audio_stream_id=None, start_seconds=start,
                     end_seconds=end, duration_seconds=end - start, started_at=None,
                     chunks=1)  # fmt: skip


def said(n: int, key: str | None, name: str | None, device: str | None, start: float,
         end: float, text: str, disagrees: bool | None = None,
         label: str | None = None) -> UtteranceRow:  # fmt: skip
    return UtteranceRow(bot_id="b1", utterance_index=n, participant_key=key,
                        participant_name=name, device_id=device, audio_stream_id=None,
                        start_seconds=start, end_seconds=end, text=text, confidence=0.9,
                        words=len(text.split()), provider="deepgram", transcript_id="t1",
                        attribution="track" if key else "none", cover=1.0,
                        provider_speaker=label, speaker_disagrees=disagrees)  # fmt: skip


SPEECH = [
    turn(0, "ann", "Ann", "d1", 0, 60),
    turn(1, "alex kim", "Alex Kim", "d3", 50, 70),  # over Ann: 50-60
    turn(2, "alex kim", "Alex Kim", "d4", 70, 90),  # a namesake on another device
    turn(3, "bo", "Bo", None, 90, 120),
]
UTTERANCES = [
    said(0, "ann", "Ann", "d1", 1, 40, "Welcome everyone, let us look at the budget"),
    said(1, "alex kim", "Alex Kim", "d3", 52, 68, "Sorry to cut in", True, "Ann"),
    said(2, "alex kim", "Alex Kim", "d4", 71, 89, "Me too"),
    said(3, "bo", "Bo", None, 91, 119, "Thanks"),
    said(4, None, None, None, 121, 124, "(laughter)"),
]
PEOPLE = [Speaker("bo", "Bo", "d2"), Speaker("cy", "Cy", "d9")]  # Cy never spoke


def meeting(**more: object) -> MeetingTimeline:
    values: dict[str, object] = {"speech": SPEECH, "utterances": UTTERANCES,
                                 "speakers": PEOPLE, "meeting_date": "2026-12-04"}  # fmt: skip
    return build_timeline("b1", **(values | more))  # type: ignore[arg-type]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode())  # noqa: S314 - our own output, the thing under test


def test_one_row_per_participant_namesakes_apart_by_device_silent_and_unnamed_last() -> None:
    lanes = meeting().lanes
    assert [lane.label for lane in lanes] == [
        "Ann", "Alex Kim (1)", "Alex Kim (2)", "Bo", "Cy", "(no speaker)",
    ]  # fmt: skip
    # Bo's turn has no device, his participants row has one: one lane, not two.
    assert lanes[3].turns == ((90.0, 120.0),)
    assert [u.text for u in lanes[1].utterances] == ["Sorry to cut in"]
    assert [u.text for u in lanes[2].utterances] == ["Me too"]
    assert (lanes[4].turns, lanes[4].utterances) == ((), ())
    assert [u.text for u in lanes[5].utterances] == ["(laughter)"]


def test_a_participants_row_without_a_device_is_not_a_phantom_namesake() -> None:
    people = [Speaker("alex kim", "Alex Kim", None, ambiguous=True),
              Speaker("alex kim", "Alex Kim", None, ambiguous=True)]  # fmt: skip
    labels = [lane.label for lane in meeting(speakers=people).lanes]
    assert labels == ["Ann", "Alex Kim (1)", "Alex Kim (2)", "Bo", "(no speaker)"]


def test_rows_of_the_svg_name_each_participant_once() -> None:
    root = parse(render_svg(meeting()))
    names = [t.text for t in root.iter(f"{SVG}text") if t.get("x") == "10"][2:]
    assert names == ["Ann", "Alex Kim (1)", "Alex Kim (2)", "Bo", "Cy", "(no speaker)"]


def test_turn_bars_sit_at_the_x_of_their_times() -> None:
    timeline = build_timeline("b1", speech=[turn(0, "ann", "Ann", None, 0, 60),
                                            turn(1, "bo", "Bo", None, 60, 120)])  # fmt: skip
    assert timeline.duration == 120
    assert (x_of(0, 120), x_of(60, 120), x_of(120, 120)) == (190, 690, 1190)
    bars = [r for r in parse(render_svg(timeline)).iter(f"{SVG}rect")
            if r.get("fill") == COLOURS["turn"] and r.get("height") == "32"]  # fmt: skip
    assert [(b.get("x"), b.get("width")) for b in bars] == [("190", "500"), ("690", "500")]


def test_the_time_axis_is_labelled_in_minutes_and_seconds() -> None:
    texts = [t.text for t in parse(render_svg(meeting())).iter(f"{SVG}text")]
    assert {"00:00", "00:30", "01:00", "02:00"} <= set(texts)


def test_talk_over_is_a_shaded_band_across_the_rows() -> None:
    timeline = meeting()
    assert overlaps(timeline) == [(50.0, 60.0)]  # touching turns (60-70, 70-90) do not count
    root = parse(render_svg(timeline))
    [band] = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None
              and (r.find(f"{SVG}title").text or "").startswith("talk-over")]  # type: ignore[union-attr]  # fmt: skip
    assert (band.get("x"), band.get("y"), band.get("height")) == (
        f"{x_of(50, 124):.2f}", "64", str(40 * 6),
    )  # fmt: skip


def test_overlaps_merge_three_speakers_and_ignore_one_persons_own_turns() -> None:
    timeline = build_timeline("b1", speech=[
        turn(0, "a", "A", None, 0, 10), turn(1, "a", "A", None, 5, 8),  # A alone: no band
        turn(2, "b", "B", None, 20, 30), turn(3, "c", "C", None, 25, 40),
        turn(4, "a", "A", None, 29, 35),
    ])  # fmt: skip
    assert overlaps(timeline) == [(25.0, 35.0)]


def test_an_utterance_whose_label_disagrees_is_drawn_in_its_own_colour_with_a_legend() -> None:
    root = parse(render_svg(meeting()))
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect") if r.get("height") == "9"]
    assert fills.count(COLOURS["disagrees"]) == 1
    assert fills.count(COLOURS["utterance"]) == 4
    tips = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert "00:52–01:08 Sorry to cut in [the provider said: Ann]" in tips
    legend = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any("disagrees with the track" in t for t in legend)


def test_hostile_names_and_text_are_escaped_and_the_svg_parses() -> None:
    timeline = build_timeline(
        "b1",
        speech=[turn(0, "x", HOSTILE, None, 0, 30)],
        utterances=[said(0, "x", HOSTILE, None, 1, 29, HOSTILE)],
    )
    svg = render_svg(timeline)
    root = parse(svg)  # well-formed XML, NUL and ESC included
    assert root.tag == f"{SVG}svg"
    assert [w for w in ("<script", "\x00", "\x1b", "\u202e") if w in svg] == []
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any(t.startswith("<script>alert(\"x\")</script> & 'Ω'") for t in texts)
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any(t.endswith("evil 🎉 مريم") for t in titles)


def test_the_same_rows_in_any_order_give_the_same_bytes() -> None:
    first = render_svg(meeting())
    shuffled = random.Random(7)
    for _ in range(5):
        speech, utterances = SPEECH[:], UTTERANCES[:]
        shuffled.shuffle(speech)
        shuffled.shuffle(utterances)
        assert render_svg(meeting(speech=speech, utterances=utterances)) == first


def test_no_url_reaches_the_picture() -> None:
    link = "https://bucket.s3.amazonaws.com/a.webm?X-Amz-Signature=abc"
    timeline = build_timeline(
        "b1",
        speech=[turn(0, "eve", f"Eve {link}", None, 0, 30)],
        utterances=[said(0, "eve", "Eve", None, 1, 29, f"see {link} now")],
    )
    svg = render_svg(timeline)
    assert re.findall(r"\w+://\S+", svg) == ['http://www.w3.org/2000/svg"']  # the namespace
    assert "X-Amz" not in svg
    assert "amazonaws" not in svg


def test_the_artifact_inlines_the_svg_and_sheds_detail_to_stay_bounded() -> None:
    timeline = meeting()
    full = render_svg(timeline)
    markdown = timeline_markdown(timeline)
    encoded = re.search(r"\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert encoded is not None
    assert base64.b64decode(encoded[1]).decode() == full
    plain = render_svg(timeline, hover=False)
    smaller = timeline_markdown(timeline, limit=len(plain.encode()))
    assert "hover texts dropped" in smaller
    assert (
        "Sorry to cut in [the provider said"
        not in base64.b64decode(re.findall(r"base64,([^)]+)\)", smaller)[0]).decode()
    )
    assert "Too large to show here" in timeline_markdown(timeline, limit=100)
    assert "meetstream-catalog report b1 --out" in timeline_markdown(timeline, limit=100)


def test_read_timeline_reads_the_catalog_and_refuses_what_it_cannot_draw(
    tmp_path: Path,
) -> None:
    root = Root.at(str(tmp_path / "catalog"))
    with pytest.raises(TimelineUnavailableError, match="not in the catalog"):
        read_timeline(root, "b1")
    record = bot_record(bot_id="b1", created_at=dt.datetime(2026, 12, 4, 9, tzinfo=dt.UTC))
    write_bot(root, bot=record, media=[], participants=[], speech=[])
    with pytest.raises(TimelineUnavailableError, match="no speech turns"):
        read_timeline(root, "b1")
    write_bot(root, bot=record, media=[], participants=[], speech=SPEECH,
              transcript=(UTTERANCES, []))  # fmt: skip
    read = read_timeline(root, "b1")
    assert read.meeting_date == "2026-12-04"
    assert render_svg(read) == render_svg(meeting(speakers=[], meeting_date="2026-12-04"))
    with pytest.raises(TimelineUnavailableError, match="no speech turns"):
        read_timeline(root, "b1", as_of=0)  # time travel: before the turns were written
