"""One catalogued meeting as a timeline: a lane per participant, their speech turns and the
utterances attributed to them, and the stretches where two or more people talk at once.

Responsibility: `read_timeline` reads one bot's `bots`, `participants`, `speech` and
`utterances` rows (now or `as_of` a version or time) and `build_timeline` turns typed rows
into a `MeetingTimeline`, the value `timeline_svg` draws. Plain Python, blocking.

Traps guarded against:
- merging namesakes: two people called "Alex Kim" are two lanes, told apart as the catalog
  tells them apart, by participant key and device; a row that names the key but not the
  device joins the one lane of that key, when there is exactly one;
- a lane per row source: a participant seen in `participants`, `speech` and `utterances`
  is one lane, and an attendee who never spoke is still a (silent) lane;
- nondeterminism: lanes, turns and utterances are ordered by time, then by key and device,
  so the same rows always give the same timeline (and the same SVG bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow.dataset as ds

from meetstream_catalog.catalog.read import AsOf, dataset
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.catalog.utterances import Speaker, UtteranceRow, speakers_from
from meetstream_catalog.roots import Root

__all__ = [
    "Lane",
    "MeetingTimeline",
    "Said",
    "TimelineUnavailableError",
    "build_timeline",
    "overlaps",
    "read_timeline",
]

NO_SPEAKER = "(no speaker)"  # the lane of utterances nobody could be named for


class TimelineUnavailableError(LookupError):
    """The catalog has no such bot, or no speech turns for it: there is nothing to draw.
    The message says which, for one line on a terminal."""


@dataclass(frozen=True)
class Said:
    """One utterance on a lane: seconds from the recording start, its text, and whether the
    provider's label named someone else than the turns did."""

    start: float
    end: float
    text: str
    disagrees: bool = False
    provider_speaker: str | None = None


@dataclass(frozen=True)
class Lane:
    """One participant (or the no-speaker lane): a label and what they said when."""

    label: str
    turns: tuple[tuple[float, float], ...] = ()
    utterances: tuple[Said, ...] = ()


@dataclass(frozen=True)
class MeetingTimeline:
    """What `timeline_svg.render_svg` draws for one bot."""

    bot_id: str
    meeting_date: str | None
    lanes: tuple[Lane, ...]

    @property
    def duration(self) -> float:
        """Seconds to the last turn's or utterance's end (at least 1)."""
        ends = [end for lane in self.lanes for _, end in lane.turns]
        ends += [u.end for lane in self.lanes for u in lane.utterances]
        return max([1.0, *ends])


Who = tuple[str, str | None]  # (participant key, device id): one lane


def _lane_of(key: str | None, device: str | None, known: dict[str, set[str | None]]) -> Who:
    """The lane a row belongs to: its own (key, device), or the one device of its key."""
    key = key or ""
    if device is None and key:
        devices = known.get(key, set()) - {None}
        if len(devices) == 1:
            return key, next(iter(devices))
    return key, device


def build_timeline(
    bot_id: str,
    *,
    speech: Sequence[SpeechRow],
    utterances: Sequence[UtteranceRow] = (),
    speakers: Sequence[Speaker] = (),
    meeting_date: str | None = None,
) -> MeetingTimeline:
    """The timeline of one bot's typed rows (`speakers`: its `participants` rows)."""
    seen: list[tuple[str | None, str | None, str | None]] = [
        *((s.key, s.device_id, s.name) for s in speakers),
        *((t.participant_key, t.device_id, t.participant_name) for t in speech),
        *((u.participant_key, u.device_id, u.participant_name) for u in utterances),
    ]
    known: dict[str, set[str | None]] = {}
    for key, device, _ in seen:
        if key:
            known.setdefault(key, set()).add(device)
    names: dict[Who, str] = {}
    for key, device, name in seen:
        who = _lane_of(key, device, known)
        if name and who not in names:
            names[who] = name
    turns: dict[Who, list[tuple[float, float]]] = {}
    for t in sorted(speech, key=lambda t: (t.start_seconds, t.turn_index)):
        who = _lane_of(t.participant_key, t.device_id, known)
        turns.setdefault(who, []).append((t.start_seconds, t.end_seconds))
    said: dict[Who, list[Said]] = {}
    for u in sorted(utterances, key=lambda u: u.utterance_index):
        if u.start_seconds is None or u.end_seconds is None:
            continue  # a segment without times has no place on a time axis
        who = _lane_of(u.participant_key, u.device_id, known)
        one = Said(
            u.start_seconds, u.end_seconds, u.text, bool(u.speaker_disagrees), u.provider_speaker
        )
        said.setdefault(who, []).append(one)
    lanes = {*turns, *said}
    # A participants row without a device whose key has lanes by device (namesakes the
    # join could not tie to a device) is one of those people, not another silent one.
    lanes |= {w for w in names if w[1] is not None or not any(o[0] == w[0] for o in lanes)}

    def order(who: Who) -> tuple[bool, float, str, str]:
        # Who spoke first comes first; the silent after them; the no-speaker lane last.
        first = [*(s for s, _ in turns.get(who, [])), *(u.start for u in said.get(who, []))]
        return (who == ("", None), min(first, default=float("inf")), who[0], who[1] or "")

    ordered = sorted(lanes, key=order)
    labels = _labels([names.get(who) or who[0] or _nameless(who) for who in ordered])
    return MeetingTimeline(
        bot_id=bot_id,
        meeting_date=meeting_date,
        lanes=tuple(
            Lane(label, tuple(turns.get(who, [])), tuple(said.get(who, [])))
            for who, label in zip(ordered, labels, strict=True)
        ),
    )


def _nameless(who: Who) -> str:
    return NO_SPEAKER if who[1] is None else "(unnamed speaker)"


def _labels(names: list[str]) -> list[str]:
    """Names as shown: namesakes numbered in lane order, "Alex Kim (1)", "Alex Kim (2)"."""
    counts = {n: names.count(n) for n in names}
    taken: dict[str, int] = {}
    shown = []
    for name in names:
        if counts[name] == 1:
            shown.append(name)
            continue
        taken[name] = taken.get(name, 0) + 1
        shown.append(f"{name} ({taken[name]})")
    return shown


def overlaps(timeline: MeetingTimeline) -> list[tuple[float, float]]:
    """The stretches (start, end) where turns of two or more lanes overlap, merged."""
    events = sorted(
        (time, step, lane)
        for lane, one in enumerate(timeline.lanes)
        for start, end in one.turns
        for time, step in ((start, 1), (end, -1))
    )  # at one instant an end (-1) sorts before a start: touching turns do not overlap
    active: dict[int, int] = {}
    found: list[tuple[float, float]] = []
    since: float | None = None
    for time, step, lane in events:
        active[lane] = active.get(lane, 0) + step
        talking = sum(1 for n in active.values() if n > 0)
        if talking >= 2 and since is None:
            since = time
        elif talking < 2 and since is not None:
            if time > since:
                if found and found[-1][1] >= since:
                    found[-1] = (found[-1][0], time)
                else:
                    found.append((since, time))
            since = None
    return found


def read_timeline(root: Root, bot_id: str, *, as_of: AsOf = None) -> MeetingTimeline:
    """The timeline of `bot_id` as the catalog at `root` holds it (`as_of`: an older state).

    Raises TimelineUnavailableError when the bot is not in the catalog or has no speech
    turns; ValueError for an `as_of` that is neither a version nor an ISO 8601 time.
    """
    where = ds.field("bot_id") == bot_id

    def rows(name: str) -> list[dict[str, object]]:
        found = dataset(name, root, as_of=as_of).to_table(filter=where).to_pylist()
        # The order files are read in is not the rows' order: sort, for the same bytes.
        return sorted(found, key=lambda r: tuple(str(r.get(c) or "") for c in _ORDER))

    bots = rows("bots")
    if not bots:
        raise TimelineUnavailableError(f"bot {bot_id} is not in the catalog at {_where(root)}")
    timed = [r for r in rows("speech") if r.get("start_seconds") is not None]
    speech = [SpeechRow.model_validate(r) for r in timed if r.get("end_seconds") is not None]
    if not speech:
        outcome = bots[0].get("outcome") or "unknown"
        raise TimelineUnavailableError(
            f"bot {bot_id} has no speech turns in the catalog (outcome {outcome}; "
            "no speaker timeline was collected): nothing to draw"
        )
    date = bots[0].get("meeting_date")
    return build_timeline(
        bot_id,
        speech=speech,
        utterances=[UtteranceRow.model_validate(r) for r in rows("utterances")],
        speakers=speakers_from(rows("participants")),
        meeting_date=str(date) if date is not None else None,
    )


_ORDER = ("participant_key", "device_id", "participant_name")


def _where(root: Root) -> str:
    return root.url.removeprefix("file://")
