"""A meeting's timeline drawn as a plain SVG: who talked when, over whom, and where the
transcript's speaker labels disagree with the tracks.

Responsibility: `render_svg` draws a `MeetingTimeline` (`catalog.timeline`): one row per
participant, speech turns as bars on a time axis with mm:ss ticks, utterances over the
turns (their text as a `<title>` tooltip and, where the bar is wide enough, a short label),
a shaded band wherever two or more people talk at once, and utterances whose provider
label disagrees with the track in their own colour, with a legend. `timeline_markdown`
inlines it in a markdown artifact, bounded in size. Standard library only (xml.etree).

Traps guarded against:
- hostile text: names and transcripts come from meetings (`<`, `&`, quotes, right-to-left
  overrides, emoji, control characters). Every text is passed through `_clean` (URLs
  dropped, characters XML 1.0 forbids and bidi controls removed, cut to a length) and
  written by ElementTree, which escapes it; nothing is ever formatted into markup by hand;
- secrets: only names, times, transcript text and the bot id are drawn; never a meeting
  link, storage URI or presigned URL (the rows read carry none, and `_clean` drops URLs);
- nondeterminism: coordinates are fixed-precision text and elements are emitted in the
  timeline's order, so the same rows give the same bytes.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

from meetstream_catalog.catalog.report import escape_markdown
from meetstream_catalog.catalog.timeline import MeetingTimeline, overlaps
from meetstream_catalog.redaction import redact

__all__ = ["COLOURS", "MAX_ARTIFACT_SVG_BYTES", "render_svg", "timeline_markdown", "x_of"]

LEFT, PLOT_WIDTH, RIGHT = 190, 1000, 20  # name column, time axis, margin (px)
TOP, ROW, LEGEND = 64, 40, 44  # header and axis, one participant, the legend (px)
MAX_NAME, MAX_TITLE, MAX_LABEL = 32, 300, 40  # characters shown of a name, tooltip, label
MAX_LABELS = 400  # labels drawn at most: a long meeting stays readable and bounded
CHAR_PX = 6.0  # width of a 10 px sans-serif character, roughly
COLOURS = {
    "turn": "#a5d8ff",
    "utterance": "#1971c2",
    "disagrees": "#e8590c",
    "overlap": "#e03131",
    "axis": "#868e96",
}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_TICKS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def _clean(text: object, limit: int) -> str:
    """`text` safe to draw: no URL, no character XML forbids, no bidi control (an override
    in a name could reverse the text drawn after it), one line, at most `limit` chars."""
    flat = " ".join(_BIDI.sub("", _NOT_XML.sub("", redact(str(text), drop_urls=True))).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes:02d}:{rest:02d}"


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def x_of(seconds: float, duration: float) -> float:
    """The x coordinate (px) of a time on the axis of a meeting `duration` seconds long."""
    return LEFT + PLOT_WIDTH * max(0.0, min(seconds, duration)) / duration


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    # `font_size="10"` is the attribute font-size: SVG's names are not Python's.
    child = ET.SubElement(parent, tag, {k.replace("_", "-"): v for k, v in attrs.items()})
    child.text = text
    return child


def _rect(parent: ET.Element, x0: float, x1: float, y: float, h: float, fill: str) -> ET.Element:
    width = max(x1 - x0, 0.5)  # a blip stays visible
    return _el(parent, "rect", x=_num(x0), y=_num(y), width=_num(width), height=_num(h), fill=fill)


def _axis(svg: ET.Element, duration: float, bottom: float) -> None:
    step = next((s for s in _TICKS if duration / s <= 12), 7200)
    axis = _el(svg, "g", font_size="10", fill=COLOURS["axis"])
    for n in range(int(duration // step) + 1):
        x = _num(x_of(n * step, duration))
        _el(axis, "line", x1=x, x2=x, y1=str(TOP - 6), y2=_num(bottom), stroke="#dee2e6")
        _el(axis, "text", _clock(n * step), x=x, y=str(TOP - 10), text_anchor="middle")


def _legend(svg: ET.Element, y: float, hover: bool) -> None:
    legend = _el(svg, "g", font_size="11")
    entries = (
        ("turn", "speech turn"),
        ("utterance", "utterance (hover: text)" if hover else "utterance"),
        ("disagrees", "utterance: the provider's speaker label disagrees with the track"),
        ("overlap", "two or more people talking at once"),
    )
    x = 10.0
    for colour, text in entries:
        swatch = _rect(legend, x, x + 14, y, 10, COLOURS[colour])
        if colour == "overlap":
            swatch.set("fill-opacity", "0.25")
        _el(legend, "text", text, x=_num(x + 18), y=_num(y + 9))
        x += 26 + CHAR_PX * len(text)


def render_svg(
    timeline: MeetingTimeline, *, hover: bool = True, labels: bool = True, utterances: bool = True
) -> str:
    """The SVG document (UTF-8 text with an XML declaration) of `timeline`.

    `hover`: each utterance carries its text as a `<title>` (a tooltip where the SVG is
    opened as a document); `labels`: short texts on the bars wide enough; `utterances`:
    draw utterances at all (off, only turns and overlaps remain). Same input, same bytes.
    """
    duration = timeline.duration
    bottom = TOP + ROW * len(timeline.lanes)
    width, height = LEFT + PLOT_WIDTH + RIGHT, bottom + LEGEND
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": str(width),
            "height": str(height),
            "viewBox": f"0 0 {width} {height}",
            "font-family": "sans-serif",
            "font-size": "12",
        },
    )
    said = [u for lane in timeline.lanes for u in lane.utterances]
    wrong = sum(u.disagrees for u in said)
    talk_over = overlaps(timeline)
    title = f"Meeting timeline · bot {timeline.bot_id}" + (
        f" · {timeline.meeting_date}" if timeline.meeting_date else ""
    )
    _el(svg, "title", _clean(title, MAX_TITLE))
    _el(svg, "rect", x="0", y="0", width=str(width), height=str(height), fill="#ffffff")
    _el(svg, "text", _clean(title, MAX_TITLE), x="10", y="20", font_weight="bold")
    summary = (
        f"{len(timeline.lanes)} rows · {_clock(duration)} · talk-over "
        f"{_clock(sum(e - s for s, e in talk_over))} · {len(said)} utterances, {wrong} "
        "whose provider label disagrees with the track"
    )
    _el(svg, "text", summary, x="10", y="38", font_size="11", fill="#495057")
    _axis(svg, duration, bottom)
    bands = _el(svg, "g", fill=COLOURS["overlap"], fill_opacity="0.18")
    for start, end in talk_over:
        band = _rect(bands, x_of(start, duration), x_of(end, duration), TOP, bottom - TOP, "")
        del band.attrib["fill"]  # the group's colour
        _el(band, "title", f"talk-over {_clock(start)}–{_clock(end)}")
    labelled = 0
    for n, lane in enumerate(timeline.lanes):
        y = TOP + ROW * n
        row = _el(svg, "g")
        name = _el(row, "g")
        _el(name, "title", _clean(lane.label, MAX_TITLE))  # the whole name, when cut
        _el(name, "text", _clean(lane.label, MAX_NAME), x="10", y=_num(y + ROW / 2 + 4))
        for start, end in lane.turns:
            _rect(row, x_of(start, duration), x_of(end, duration), y + 4, ROW - 8, COLOURS["turn"])
        if not utterances:
            continue
        for u in lane.utterances:
            x0, x1 = x_of(u.start, duration), x_of(u.end, duration)
            group = _el(row, "g")
            if hover:
                tip = f"{_clock(u.start)}–{_clock(u.end)} {u.text}"
                if u.disagrees and u.provider_speaker:
                    tip += f" [the provider said: {u.provider_speaker}]"
                _el(group, "title", _clean(tip, MAX_TITLE))
            colour = COLOURS["disagrees" if u.disagrees else "utterance"]
            gap = 0.5 if x1 - x0 > 2 else 0.0  # back-to-back utterances stay told apart
            _rect(group, x0 + gap, x1 - gap, y + ROW - 17, 9, colour)
            fits = min(MAX_LABEL, int((x1 - x0 - 4) / CHAR_PX))
            if labels and fits >= 4 and labelled < MAX_LABELS:
                labelled += 1
                text = _clean(u.text, fits)
                _el(group, "text", text, x=_num(x0 + 2), y=_num(y + 16), font_size="10")
    _legend(svg, bottom + 16, hover and utterances)
    body = ET.tostring(svg, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# The Prefect UI shows a markdown artifact's image through react-markdown with a URL filter
# that lets `data:image/...` through on `<img src>` (Prefect 3.9's UI v2, lazy-markdown;
# the v1 UI renders them too): an SVG inlined as a base64 data URI appears on the run's
# Artifacts tab with no server to host it. `create_image_artifact` wants a public URL,
# which a private catalog does not have. In an `<img>` an SVG is not interactive, so its
# `<title>` tooltips never show there: they are the first thing dropped when the image is
# too big, then the labels, then the utterances; past that the artifact only says so.
# Artifacts live in the Prefect database, so the bound keeps one run's row small.
MAX_ARTIFACT_SVG_BYTES = 300_000
_DETAIL = (
    {"hover": True, "labels": True, "utterances": True},
    {"hover": False, "labels": True, "utterances": True},
    {"hover": False, "labels": False, "utterances": True},
    {"hover": False, "labels": False, "utterances": False},
)


def timeline_markdown(timeline: MeetingTimeline, limit: int = MAX_ARTIFACT_SVG_BYTES) -> str:
    """A markdown artifact showing the timeline as an inline image of at most `limit` bytes
    (less detail when needed, see above), or a note naming the command that writes it."""
    bot = escape_markdown(timeline.bot_id, 80)
    command = f"`meetstream-catalog report {timeline.bot_id} --out timeline.svg`"
    head = f"## Who spoke when\n\nBot {bot}: one row per participant. "
    for detail in _DETAIL:
        data = render_svg(timeline, **detail).encode()
        if len(data) <= limit:
            encoded = base64.b64encode(data).decode("ascii")
            kept = "" if detail["hover"] else " (reduced to fit: hover texts dropped)"
            return (
                f"{head}Orange: the provider's label disagrees with the track; red band: "
                f"people talking at once{kept}. With hover texts: {command}.\n\n"
                f"![timeline of bot {bot}](data:image/svg+xml;base64,{encoded})\n"
            )
    return f"{head}Too large to show here; write it with {command}.\n"
