"""`get_speaker_timeline`: who spoke when, as MeetStream reports it.

The trap this module guards against: `startByte`/`endByte` are byte offsets into the
recording's 16-bit mono PCM at `sampleRate`, not times, so seconds are
`bytes / (sampleRate * 2)`. A chunk without a usable sample rate or with an end before its
start is dropped rather than guessed. `audioFilePath` (a storage path at MeetStream) and
every other field are ignored: only what the catalog needs is kept, and none of it is a URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

BYTES_PER_SAMPLE = 2  # 16-bit mono PCM

SpeakerTimelineState = Literal["available", "empty", "missing", "not_ready", "malformed"]
"""What became of a bot's timeline (the `bots.speaker_timeline` column). `available`: rows
in `speech`; `empty`: nobody spoke; `missing`: MeetStream has none (404); `not_ready`:
still 202 at the processing deadline; `malformed`: an answer we cannot read."""


class SpeakerChunk(BaseModel):
    """One chunk of the timeline: one speaker device over a span of the recording."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    chunk_index: int | None = Field(default=None, alias="chunkIndex")
    timestamp: datetime | None = None
    sample_rate: int | None = Field(default=None, alias="sampleRate")
    speaker_id: str | None = Field(default=None, alias="speakerId")
    speaker_name: str | None = Field(default=None, alias="speakerName")
    start_byte: int = Field(alias="startByte", ge=0)
    end_byte: int = Field(alias="endByte", ge=0)

    @field_validator("speaker_id", "speaker_name", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @property
    def usable(self) -> bool:
        return bool(self.sample_rate and self.sample_rate > 0) and self.end_byte > self.start_byte

    @property
    def start_seconds(self) -> float:
        """Seconds from the recording start."""
        return self.start_byte / ((self.sample_rate or 1) * BYTES_PER_SAMPLE)

    @property
    def end_seconds(self) -> float:
        return self.end_byte / ((self.sample_rate or 1) * BYTES_PER_SAMPLE)


class SpeakerTimeline(BaseModel):
    """`GET /bots/{id}/get_speaker_timeline` when ready (200)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    chunks: list[SpeakerChunk] = Field(default_factory=list)
    last_updated: datetime | None = Field(default=None, alias="lastUpdated")

    def usable_chunks(self) -> list[SpeakerChunk]:
        """Chunks with a sample rate and a positive length, in recording order."""
        return sorted(
            (c for c in self.chunks if c.usable),
            key=lambda c: (c.start_byte / (c.sample_rate or 1), c.chunk_index or 0),
        )
