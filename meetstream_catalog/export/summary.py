"""`ExportSummary`: what an export wrote, counted as it goes (printed by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
