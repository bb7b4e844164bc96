"""The `rttm` export: RTTM and UEM per meeting, and a pyannote.database protocol over them.

Responsibility: `Diarization` writes, one meeting at a time, `<bot_id>.rttm` (one NIST
`SPEAKER` line per speech turn) and `<bot_id>.uem` (`<bot_id> 1 0.000 <length>`: the
scored region, the whole recording) in OUT, and keeps each meeting's speaker identities (a
few strings per meeting, not its rows). `finish` splits the meetings into train,
development and test with no speaker in two (`split`) and writes `meetstream.<subset>.lst`
and `database.yml`, the protocol `MeetStream.SpeakerDiarization.Catalog`.

Traps guarded against:
- ground truth that is not: a meeting with no speech turns whose timeline was never read
  (`bots.speaker_timeline` other than `empty`) has an RTTM that means "unknown", not
  "nobody spoke". It gets no UEM and stays out of the protocol, as does a meeting of
  unknown length: a UEM would declare its silence scored.
- a folder bound to one machine: paths in `database.yml` are relative to it
  (pyannote.database resolves a relative path against the current directory first, then
  against the yml's directory), so OUT can be moved or copied and loaded where it lands.
  The lists carry a `meetstream.` prefix so that a `train.lst` in the current directory is
  not picked up instead.
- labels taken for people across files: a label is a display name (plus the device for
  namesakes of one meeting), so the protocol declares `scope: file`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from meetstream_catalog.catalog.names import normalize_name
from meetstream_catalog.export.meetings import Meeting, meeting_length, speaker_labels
from meetstream_catalog.export.split import SUBSETS, split
from meetstream_catalog.export.summary import ExportSummary

logger = logging.getLogger(__name__)

DATABASE, PROTOCOL = "MeetStream", "Catalog"
PROTOCOL_NAME = f"{DATABASE}.SpeakerDiarization.{PROTOCOL}"


def speaker_identities(m: Meeting) -> set[str]:
    """Who speaks in `m`, as the split compares meetings: each turn's participant key (the
    catalog's identity of a person: the normalized name, recomputed when the key is
    missing) and its RTTM label, so that neither a person nor a label is in two subsets."""
    labels = speaker_labels(m.turns)
    identities = set()
    for t in m.turns:
        name = t["participant_name"]
        if key := t["participant_key"] or (normalize_name(name) if name else None):
            identities.add(f"key:{key}")
        identities.add(f"label:{labels[(t['device_id'], name)]}")
    return identities


def _rttm_lines(m: Meeting) -> list[str]:
    labels = speaker_labels(m.turns)
    return [
        f"SPEAKER {m.bot_id} 1 {t['start_seconds']:.3f} {t['duration_seconds']:.3f} "
        f"<NA> <NA> {labels[(t['device_id'], t['participant_name'])]} <NA> <NA>\n"
        for t in m.turns
    ]


class Diarization:
    """Writes the rttm export under the local directory `out` (see the module docstring)."""

    def __init__(self, out: Path, opts: Mapping[str, Any]) -> None:
        self._out, self._opts = out, opts
        self._speakers: dict[str, set[str]] = {}
        self._left_out: list[str] = []

    def add(self, m: Meeting, summary: ExportSummary) -> None:
        """Write `m`'s RTTM and, when its speech and length are known, its UEM."""
        lines = _rttm_lines(m)
        (self._out / f"{m.bot_id}.rttm").write_text("".join(lines), encoding="utf-8")
        summary.files += 1
        summary.supervisions += len(lines)
        known = bool(m.turns) or m.speaker_timeline == "empty"
        length = meeting_length(m, self._opts) if known else 0.0
        if length <= 0:
            self._left_out.append(m.bot_id)
            return
        uem = f"{m.bot_id} 1 0.000 {length:.3f}\n"
        (self._out / f"{m.bot_id}.uem").write_text(uem, encoding="utf-8")
        summary.files += 1
        self._speakers[m.bot_id] = speaker_identities(m)

    def finish(self, summary: ExportSummary) -> None:
        """Split the meetings written, then write the lists and `database.yml`."""
        chosen = split(self._speakers)
        for subset in SUBSETS:
            uris = chosen.subsets[subset]
            text = "".join(f"{uri}\n" for uri in uris)
            (self._out / f"meetstream.{subset}.lst").write_text(text, encoding="utf-8")
            summary.subsets[subset] = len(uris)
        (self._out / "database.yml").write_text(_database_yml(), encoding="utf-8")
        summary.files += len(SUBSETS) + 1
        if self._left_out:
            logger.warning(
                "%d meetings left out of %s (speech turns or length unknown: no UEM): %s",
                len(self._left_out), PROTOCOL_NAME, ", ".join(self._left_out[:5]),
            )  # fmt: skip
        if chosen.single_group:
            logger.warning(
                "all %d meetings share speakers (one group): all in train, development "
                "and test empty in %s",
                chosen.largest_group, PROTOCOL_NAME,
            )  # fmt: skip


def _database_yml() -> str:
    subset: dict[str, object] = {
        name: {
            "uri": f"meetstream.{name}.lst",
            "annotation": "{uri}.rttm",
            "annotated": "{uri}.uem",
        }
        for name in SUBSETS
    }
    protocol: dict[str, object] = {"scope": "file", **subset}
    tree = {"Protocols": {DATABASE: {"SpeakerDiarization": {PROTOCOL: protocol}}}}
    header = (
        "# Written by `meetstream-catalog export rttm`: paths are relative to this file.\n"
        f"# registry.load_database(this file); registry.get_protocol('{PROTOCOL_NAME}')\n"
    )
    return header + yaml.safe_dump(tree, sort_keys=False)
