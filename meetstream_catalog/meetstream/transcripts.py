"""MeetStream's post-call transcripts: what `create_bot` asks for, and what comes back.

A bot created with `recording_config.transcript.provider` gets a `transcript_id`; the
transcript is read with `GET /transcript/{id}/get_transcript` (202 while processing), a
bot's runs are listed by `GET /bots/{id}/transcriptions`, and `POST /bots/{id}/transcribe`
starts a new run after the meeting (docs/meetstream-api.md, section 10).

Traps guarded against:
- each provider names its options differently (`model` + `language` for Deepgram,
  `speech_models` + `language_code` for AssemblyAI, `language_code` for Sarvam, only
  `language` for MeetStream and JigsawStack): `provider_config` writes the documented keys,
  and refuses a model for a provider that documents none instead of sending it blind;
- a segment's text is `transcript`, not `text` (the SDK's "looks empty" trap); `text` is
  accepted too, and so is the raw AssemblyAI shape (`raw=true`: milliseconds, letters);
- only what the catalog needs is kept: `download_urls` (presigned S3, 1 h) are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meetstream_catalog.meetstream.models import Liberal
from meetstream_catalog.settings import PROVIDERS_WITH_MODEL, TranscriptProvider

# Post-call providers (a transcript exists after the meeting). Streaming ones
# (`*_streaming`, `meeting_captions`) deliver live only and never get a transcript_id.
POST_CALL_PROVIDERS: tuple[str, ...] = get_args(TranscriptProvider)

TranscriptState = Literal[
    "available", "empty", "failed", "not_ready", "missing", "malformed", "not_requested"
]
"""What became of a bot's transcript (the `bots.transcript` column). `available`: rows in
`utterances`; `empty`: a transcript without speech; `failed`: the provider failed
(`transcription.failed`); `not_ready`: still 202 at the processing deadline; `missing`:
MeetStream does not know the transcript (404); `malformed`: an answer we cannot read;
`not_requested`: the bot was created without a post-call provider."""


def provider_config(
    provider: str, *, model: str | None = None, language: str | None = None
) -> dict[str, dict[str, object]]:
    """`recording_config.transcript.provider` (and `/transcribe`'s `provider`) for one
    provider: exactly one key, the provider's own option names.

    Raises ValueError for an unknown (or streaming) provider, or a model for a provider
    whose documented options have none.
    """
    if provider not in POST_CALL_PROVIDERS:
        raise ValueError(
            f"transcript provider {provider!r} is not a post-call provider; "
            f"use one of {', '.join(POST_CALL_PROVIDERS)}"
        )
    if model and provider not in PROVIDERS_WITH_MODEL:
        raise ValueError(f"the {provider} transcript provider documents no model option")
    options: dict[str, object] = {}
    if provider == "assemblyai":
        options.update(speech_models=[model] if model else None, language_code=language)
    elif provider == "sarvam":
        options.update(model=model, language_code=language)
    else:  # deepgram (model, language); meetstream and jigsawstack (language)
        options.update(model=model, language=language)
    return {provider: {k: v for k, v in options.items() if v is not None}}


def provider_name(config: Mapping[str, object] | None) -> str | None:
    """The one provider key of a `provider` object, if there is exactly one."""
    return next(iter(config)) if config and len(config) == 1 else None


class TranscriptWord(Liberal):
    """One word with its times (seconds from the recording start)."""

    word: str | None = None
    punctuated_word: str | None = None
    start: float | None = None
    end: float | None = None
    confidence: float | None = None
    speaker: str | None = None

    @field_validator("speaker", mode="before")
    @classmethod
    def _label(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def text(self) -> str:
        return self.punctuated_word or self.word or ""


class TranscriptSegment(Liberal):
    """One utterance of the provider-neutral shape (`GetTranscriptionSchema` items)."""

    speaker: str | None = None
    transcript: str = ""
    start_time: float | None = None
    end_time: float | None = None
    confidence: float | None = None  # not in the documented shape; some providers add it
    words: list[TranscriptWord] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        text = data.get("text") if isinstance(data, dict) else None
        if isinstance(text, str) and "transcript" not in data:
            return {**data, "transcript": text}
        return data

    @field_validator("speaker", mode="before")
    @classmethod
    def _label(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def mean_confidence(self) -> float | None:
        """The segment's confidence, else the mean of its words' (None without either)."""
        if self.confidence is not None:
            return self.confidence
        scores = [w.confidence for w in self.words if w.confidence is not None]
        return sum(scores) / len(scores) if scores else None


class Transcript(BaseModel):
    """A transcript as utterances in the neutral shape, whichever shape was answered."""

    model_config = ConfigDict(frozen=True)

    segments: list[TranscriptSegment] = Field(default_factory=list)
    shape: Literal["neutral", "assemblyai"] = "neutral"

    @classmethod
    def parse(cls, data: object) -> Transcript:
        """The neutral array, a `{"transcript": [...]}` wrapper of it, or the raw AssemblyAI
        object (`utterances`, times in milliseconds). Raises pydantic's ValidationError."""
        if isinstance(data, dict) and isinstance(data.get("utterances"), list):
            return cls(segments=[_assemblyai(u) for u in data["utterances"]], shape="assemblyai")
        if isinstance(data, dict):
            data = data.get("transcript", data.get("segments", data))
        return cls.model_validate({"segments": data})


def _assemblyai(raw: object) -> TranscriptSegment:
    """One raw AssemblyAI utterance (ms, `text`, letter speakers) as a neutral segment."""
    u = raw if isinstance(raw, dict) else {}

    def seconds(value: object) -> float | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value / 1000.0 if ok else None  # type: ignore[operator]

    words = [
        {
            "word": w.get("text"),
            "start": seconds(w.get("start")),
            "end": seconds(w.get("end")),
            "confidence": w.get("confidence"),
            "speaker": w.get("speaker"),
        }
        for w in u.get("words") or []
        if isinstance(w, dict)
    ]
    return TranscriptSegment.model_validate(
        {
            "speaker": u.get("speaker"),
            "transcript": u.get("text") or "",
            "start_time": seconds(u.get("start")),
            "end_time": seconds(u.get("end")),
            "confidence": u.get("confidence"),
            "words": words,
        }
    )


class TranscriptRun(Liberal):
    """One entry of `GET /bots/{id}/transcriptions` (its `download_urls` are not kept)."""

    transcript_id: str
    provider: str | None = None
    status: str | None = None  # Success | Processing | Failed
    created_at: str | None = None

    @property
    def failed(self) -> bool:
        return (self.status or "").casefold() in ("failed", "error")


class TranscriptRuns(Liberal):
    """`GET /bots/{id}/transcriptions`."""

    bot_id: str | None = None
    transcriptions: list[TranscriptRun] = Field(default_factory=list)


class Transcribed(Liberal):
    """`POST /bots/{id}/transcribe`: the new run's id (it becomes the bot's transcript)."""

    bot_id: str | None = None
    transcript_id: str
    provider: str | None = None
    message: str | None = None
