"""`ExportSummary`: what an export wrote, counted as it goes (printed by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field

from meetstream_catalog.catalog.names import normalize_name
from meetstream_catalog.export.meetings import Meeting


@dataclass
class ExportSummary:
    """What an export wrote. `subsets`: meetings per subset of the rttm export's
    pyannote.database protocol (train, development, test), empty for other formats."""

    format: str
    meetings: int = 0
    recordings: int = 0
    supervisions: int = 0
    files: int = 0
    bytes: int = 0
    outputs: list[str] = field(default_factory=list)
    subsets: dict[str, int] = field(default_factory=dict)
    bot_ids: list[str] = field(default_factory=list)
    participant_keys: set[str] = field(default_factory=set)

    def saw(self, m: Meeting) -> None:
        """Count meeting `m` and remember who is in it (for the `exports` table)."""
        self.meetings += 1
        self.bot_ids.append(m.bot_id)
        rows = (*m.turns, *m.utterances, *m.words)
        self.participant_keys.update(
            str(r["participant_key"]) for r in rows if r["participant_key"]
        )
        names = (f["participant_name"] for f in m.media if f["participant_name"])
        self.participant_keys.update(normalize_name(str(n)) for n in names)
