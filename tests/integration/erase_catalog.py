"""A small catalog with real media files for the erasure tests, local or on S3.

Two meetings (`bot-a`, `bot-b`), each with "Ann Lee" and "Bob Stone": per-person audio and
webcam files, the mixed audio, speech turns, utterances, words, a webhook event. `bot-a`
is captured twice, so older table versions (and their data files) hold everyone's rows.
Each file's bytes carry its owner's name, so a test can look for them in storage.

    python tests/integration/erase_catalog.py CATALOG MEDIA   # build it (for subprocesses)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys

import fsspec

from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog import write_bot
from meetstream_catalog.catalog.append import append_rows
from meetstream_catalog.catalog.join import ParticipantRow
from meetstream_catalog.catalog.records import BotRecord
from meetstream_catalog.catalog.speech import SpeechRow
from meetstream_catalog.catalog.utterances import UtteranceRow, WordRow
from meetstream_catalog.roots import Root

DAY = dt.date(2025, 3, 14)
PEOPLE = ("Ann Lee", "Bob Stone")
BOTS = ("bot-a", "bot-b")


def _file(media: Root, key: str, content: bytes) -> tuple[str, int, str]:
    uri = media.join(key)
    with fsspec.open(uri, "wb", **dict(media.options)) as f:
        f.write(content)
    return uri, len(content), hashlib.sha256(content).hexdigest()


def _media(media: Root, bot_id: str) -> list[ArchivedMedia]:
    files = []
    for i, name in enumerate(PEOPLE):
        slug = name.lower().replace(" ", "-")
        for kind, ext in (("audio", "webm"), ("webcam", "webm")):
            key = f"{bot_id}/{kind}/{slug}/0.{ext}"
            uri, size, digest = _file(media, key, f"{kind} of {name} in {bot_id}".encode())
            files.append(
                ArchivedMedia(
                    bot_id=bot_id, kind=kind, participant_name=name, stream_id=f"{kind[0]}{i}",
                    segment_index=0, key=key, storage_uri=uri, bytes=size, sha256=digest,
                    duration_seconds=10.0,
                )
            )  # fmt: skip
    key = f"{bot_id}/mixed_audio/0.wav"
    uri, size, digest = _file(media, key, f"mixed audio of {bot_id}".encode())
    files.append(
        ArchivedMedia(bot_id=bot_id, kind="mixed_audio", key=key, storage_uri=uri, bytes=size,
                      sha256=digest)
    )  # fmt: skip
    return files


def _rows(bot_id: str, files: list[ArchivedMedia]) -> dict[str, list[object]]:
    people: list[object] = []
    speech: list[object] = []
    utterances: list[object] = []
    words: list[object] = []
    for i, name in enumerate(PEOPLE):
        key = name.lower()
        audio = next(f for f in files if f.kind == "audio" and f.participant_name == name)
        people.append(
            ParticipantRow(bot_id=bot_id, participant_key=key, participant_name=name,
                           match="both", audio_key=audio.key, audio_storage_uri=audio.storage_uri,
                           audio_stream_id=audio.stream_id)
        )  # fmt: skip
        start = 5.0 * i
        speech.append(
            SpeechRow(bot_id=bot_id, turn_index=i, participant_name=name, participant_key=key,
                      device_id=f"d{i}", audio_stream_id=audio.stream_id, start_seconds=start,
                      end_seconds=start + 4.0, duration_seconds=4.0, started_at=None, chunks=1)
        )  # fmt: skip
        utterances.append(
            UtteranceRow(bot_id=bot_id, utterance_index=i, participant_key=key,
                         participant_name=name, device_id=f"d{i}",
                         audio_stream_id=audio.stream_id, start_seconds=start,
                         end_seconds=start + 2.0, text=f"hello I am {name}", confidence=0.9,
                         words=2, provider="deepgram", transcript_id="t", attribution="track",
                         cover=1.0, provider_speaker=None, speaker_disagrees=None)
        )  # fmt: skip
        words.append(
            WordRow(bot_id=bot_id, utterance_index=i, word_index=0, word=name.split()[0],
                    start_seconds=start, end_seconds=start + 0.5, confidence=0.9,
                    participant_key=key, device_id=f"d{i}")
        )  # fmt: skip
    return {"participants": people, "speech": speech, "utterances": utterances, "words": words}


def write_meeting(catalog: Root, media: Root, bot_id: str) -> None:
    """Write (or write again) one meeting: files first, then its rows."""
    files = _media(media, bot_id)
    rows = _rows(bot_id, files)
    bot = BotRecord(
        bot_id=bot_id, meeting_date=DAY, outcome="captured", media_files=len(files),
        media_bytes=sum(f.bytes for f in files), speech_turns=2, utterances=2,
        missing_files=["screenshare of 'Ann Lee' (segment 1, key x): 403"],
    )  # fmt: skip
    write_bot(
        catalog, bot=bot, media=files, participants=rows["participants"],  # type: ignore[arg-type]
        speech=rows["speech"],  # type: ignore[arg-type]
        transcript=(rows["utterances"], rows["words"]),  # type: ignore[arg-type]
    )  # fmt: skip


def build(catalog: Root, media: Root) -> None:
    """Both meetings, `bot-a` twice, and a webhook event of each."""
    for bot_id in (*BOTS, BOTS[0]):
        write_meeting(catalog, media, bot_id)
    now = dt.datetime.now(dt.UTC)
    events = [
        {"bot_id": b, "event": "bot.done", "received_at": now, "event_date": now.date()}
        for b in BOTS
    ]
    append_rows(catalog, "bot_events", events)


if __name__ == "__main__":
    build(Root(sys.argv[1]), Root(sys.argv[2]))
