"""The simulator's transcripts: utterances drawn from each meeting's scripted speech.

Every speech window of the script (clipped to the recording) becomes one or more
utterances of deterministic text (seeded by link, speaker and window), with word times
spread over the window, in the shape the API documents: the provider-neutral array
(`speaker`, `transcript`, `start_time`, `end_time`, `words`) and, with `raw=true`, the one
documented raw shape (AssemblyAI's: milliseconds, letter speakers, `utterances`). Answers
for `get_transcript`, `/transcriptions` and `/transcribe` live here too.

Inferred behaviour (docs/meetstream-api.md, section 10): times count from the recording
start; a failed run answers `get_transcript` with 404 and shows `Failed` in
`/transcriptions`; on Teams (providers diarize the mixed audio) every third utterance
carries another speaker's label, so attribution by the catalog's timeline can be seen to
correct it.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from typing import Any

from meetstream_catalog.simulator.meeting import Bot, TranscriptRun
from meetstream_catalog.simulator.scenario import Participant
from meetstream_catalog.simulator.state import ApiError, SimulatorState

Answer = tuple[int, Any]

WORDS_PER_SECOND = 2.5
MAX_UTTERANCE_SECONDS = 15.0
_POST_CALL = ("deepgram", "assemblyai", "sarvam", "jigsawstack", "meetstream")
_NS = uuid.UUID("0d5f3a9e-6c2b-4f7e-8f15-5b7c1c2a9d40")
_TOPICS = ("budget", "roadmap", "hiring", "launch", "pricing", "security", "onboarding")
_VOCABULARY = (
    "we", "should", "the", "next", "quarter", "plan", "team", "think", "about", "customers",
    "agree", "numbers", "look", "good", "maybe", "later", "this", "week", "risk", "deadline",
    "ship", "review", "data", "catalog", "meeting", "follow", "up", "on", "question", "so",
)  # fmt: skip


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def _spans(bot: Bot) -> list[tuple[float, float, int, int]]:
    """(start, end, participant, window) of every utterance, in recording order."""
    length = bot.timeline().recording_length
    spans = []
    for i, person in enumerate(bot.script.participants):
        for w, (start, end) in enumerate(person.speech):
            end = min(end, length)
            t = start
            while t < end - 0.5:
                stop = min(end, t + MAX_UTTERANCE_SECONDS)
                spans.append((t, stop, i, w))
                t = stop
    return sorted(spans)


def utterances(bot: Bot) -> list[dict[str, Any]]:
    """The neutral transcript of the bot's meeting (deterministic for link + script)."""
    people = bot.script.participants
    every = bot.script.transcript.mislabels(bot.script.platform)
    labels: dict[str, int] = {}
    out = []
    for n, (start, end, i, w) in enumerate(_spans(bot)):
        rng = _rng(bot.link, i, w, round(start, 3))
        speaker = people[i].name
        if every and n % every == every - 1:
            speaker = _someone_else(people, i)  # the provider's diarization errs
        count = max(1, int((end - start) * WORDS_PER_SECOND))
        step = (end - start) / count
        topic = _TOPICS[rng.randrange(len(_TOPICS))]
        tokens = [rng.choice(_VOCABULARY) for _ in range(count)]
        tokens[rng.randrange(count)] = topic
        label = labels.setdefault(speaker, len(labels))
        shown = [t.capitalize() if k == 0 else t for k, t in enumerate(tokens)]
        shown[-1] += "."
        words: list[dict[str, Any]] = [
            {
                "word": token,
                "punctuated_word": shown[k],
                "start": round(start + k * step, 3),
                "end": round(start + (k + 0.8) * step, 3),
                "confidence": round(0.8 + rng.random() * 0.19, 3),
                "speaker": label,
                "speaker_confidence": round(0.6 + rng.random() * 0.39, 3),
            }
            for k, token in enumerate(tokens)
        ]
        out.append(
            {
                "speaker": speaker,
                "transcript": " ".join(shown),
                "start_time": round(start, 3),
                "end_time": round(end, 3),
                "words": words,
            }
        )
    return out


def _someone_else(people: tuple[Participant, ...], i: int) -> str:
    """The next speaker after participant `i` with another name (else `i`'s own)."""
    for k in range(1, len(people)):
        other = people[(i + k) % len(people)]
        if other.speech and other.name != people[i].name:
            return other.name
    return people[i].name


def raw_assemblyai(transcript_id: str, neutral: list[dict[str, Any]]) -> dict[str, Any]:
    """The same utterances in AssemblyAI's own JSON (the documented raw schema)."""
    letters: dict[str, str] = {}

    def letter(speaker: str) -> str:
        return letters.setdefault(speaker, chr(ord("A") + len(letters) % 26))

    def ms(seconds: float) -> int:
        return round(seconds * 1000)

    utts = []
    for u in neutral:
        who = letter(u["speaker"])
        words = [
            {
                "text": w["punctuated_word"],
                "start": ms(w["start"]),
                "end": ms(w["end"]),
                "confidence": w["confidence"],
                "speaker": who,
            }
            for w in u["words"]
        ]
        confidence = sum(w["confidence"] for w in words) / len(words)
        utts.append(
            {
                "speaker": who,
                "text": u["transcript"],
                "start": ms(u["start_time"]),
                "end": ms(u["end_time"]),
                "confidence": round(confidence, 3),
                "words": words,
            }
        )
    return {
        "id": transcript_id,
        "status": "completed",
        "text": " ".join(u["text"] for u in utts),
        "language_code": "en",
        "speaker_labels": True,
        "audio_duration": round(neutral[-1]["end_time"]) if neutral else 0,
        "words": [w for u in utts for w in u["words"]],
        "utterances": utts,
    }


def _phase(state: SimulatorState, bot: Bot, transcript_id: str) -> tuple[str, TranscriptRun | None]:
    """("processing" | "ready" | "failed", the /transcribe run if it is one)."""
    t = state.bot_time(bot)
    run = next((r for r in bot.runs if r.transcript_id == transcript_id), None)
    if run is not None:
        if run.outcome == "stuck" or t < run.ready_at:
            return "processing", run
        return ("failed" if run.outcome == "failed" else "ready"), run
    tl = bot.timeline()
    if t < tl.stopped_at:
        return "processing", None
    if tl.recording_length <= 0:
        return "failed", None  # nothing was recorded: nothing to transcribe
    if tl.transcript_ready is None or t < tl.transcript_ready:
        return "processing", None  # "stuck": 202 for ever
    return ("failed" if bot.script.transcript.outcome == "failed" else "ready"), None


def _owner(state: SimulatorState, transcript_id: str) -> Bot:
    with state.lock:
        bots = list(state.bots.values())
    for bot in bots:
        if bot.deleted is None and (
            bot.transcript_id == transcript_id
            or any(r.transcript_id == transcript_id for r in bot.runs)
        ):
            return bot
    raise ApiError(404, "Transcript not found.")


def get_transcript(state: SimulatorState, transcript_id: str, raw: bool) -> Answer:
    """`GET /transcript/{id}/get_transcript`: 202 while processing, 404 unknown or failed."""
    bot = _owner(state, transcript_id)
    phase, _ = _phase(state, bot, transcript_id)
    if phase == "processing":
        return 202, {"message": "Transcript is still being processed."}
    if phase == "failed":
        return 404, {"message": "Transcription failed: the provider returned an error."}
    neutral = utterances(bot)
    return 200, raw_assemblyai(transcript_id, neutral) if raw else neutral


_STATUS = {"processing": "Processing", "ready": "Success", "failed": "Failed"}


def transcriptions(state: SimulatorState, bot: Bot) -> Answer:
    """`GET /bots/{id}/transcriptions`: every run, oldest first; no download URLs."""
    runs: list[dict[str, Any]] = []
    recording = bot.request.get("recording_config")
    transcript = recording.get("transcript") if isinstance(recording, dict) else None
    provider = transcript.get("provider") if isinstance(transcript, dict) else None
    if bot.transcript_id is not None and isinstance(provider, dict):
        runs.append(
            {
                "transcript_id": bot.transcript_id,
                "provider": next(iter(provider)),
                "status": _STATUS[_phase(state, bot, bot.transcript_id)[0]],
                "created_at": state.iso(bot.created_at),
                "config": provider,
                "download_urls": None,
            }
        )
    for run in bot.runs:
        runs.append(
            {
                "transcript_id": run.transcript_id,
                "provider": run.provider,
                "status": _STATUS[_phase(state, bot, run.transcript_id)[0]],
                "created_at": state.iso(bot.created_at + run.requested_at),
                "config": {run.provider: run.config},
                "download_urls": None,
            }
        )
    return 200, {"bot_id": bot.bot_id, "transcriptions": runs}


def transcribe(state: SimulatorState, bot: Bot, body: Any) -> Answer:
    """`POST /bots/{id}/transcribe`: a new run on the stored audio (ready after the
    script's `transcript.delay`); its id becomes the bot's transcript id."""
    provider = body.get("provider") if isinstance(body, dict) else None
    if not isinstance(provider, dict) or len(provider) != 1:
        raise ApiError(400, "provider is required: an object with exactly one provider.")
    name, config = next(iter(provider.items()))
    if name not in _POST_CALL:
        raise ApiError(400, f"provider must be one of {', '.join(_POST_CALL)}.")
    tl, t = bot.timeline(), state.bot_time(bot)
    if t < tl.stopped_at:
        raise ApiError(409, "The bot is still in the meeting.")
    if tl.recording_length <= 0:
        raise ApiError(400, "This bot has no stored audio to transcribe.")
    callback = body.get("callback_url")
    run = TranscriptRun(
        transcript_id=str(uuid.uuid5(_NS, f"{bot.bot_id}:{len(bot.runs)}")),
        provider=name,
        config=config if isinstance(config, dict) else {},
        requested_at=t,
        ready_at=t + bot.script.transcript.delay,
        callback_url=callback if isinstance(callback, str) and callback else None,
    )
    bot.runs.append(run)
    message = "Transcription started."
    return 200, {
        "bot_id": bot.bot_id,
        "transcript_id": run.transcript_id,
        "provider": name,
        "message": message,
    }
