"""JSON bodies of the media endpoints: mixed audio/video, stream manifests, participants.

Each function answers for one bot at its current meeting time with ``(status, body)``:
404 while the bot is still in the call (processing not initiated), 202 while processing
(video bodies carry ``stage``), 200 with presigned URLs when ready, or the 200
"no streams available" shape (flag off, Teams audio, nobody spoke, no camera, or a bot
that never got in).

Trap guarded against: 202 is "not ready", never a partial manifest; and a manifest is
only ever built from the same :class:`~meetstream_catalog.simulator.meeting.MediaPlan` that serves
the bytes, so every URL in it resolves to a file of the advertised duration.
"""

from __future__ import annotations

from typing import Any

from meetstream_catalog.simulator.media import MediaFile, list_files, render_file
from meetstream_catalog.simulator.meeting import Bot
from meetstream_catalog.simulator.plan import MediaPlan, Stream, stream_id
from meetstream_catalog.simulator.state import SimulatorState

Answer = tuple[int, Any]


def _url(state: SimulatorState, base: str, bot: Bot, f: MediaFile, ttl: float) -> str:
    return state.signer.presign(base, f"/media/{bot.bot_id}/{f.path_suffix}", ttl)


def _phase(state: SimulatorState, bot: Bot, kind: str) -> tuple[str, float]:
    """("in_call" | "none" | "processing" | "ready", fraction of processing done)."""
    tl, t = bot.timeline(), state.bot_time(bot)
    if t < tl.stopped_at:
        return "in_call", 0.0
    ready = tl.audio_ready if kind == "audio" else tl.video_ready
    if ready is None or tl.recording_length <= 0:
        return "none", 1.0
    if t < ready:
        return "processing", (t - tl.stopped_at) / max(ready - tl.stopped_at, 1e-9)
    return "ready", 1.0


def _file(plan: MediaPlan, kind: str) -> MediaFile:
    return next(f for f in list_files(plan) if f.kind == kind)


def mixed_audio(state: SimulatorState, base: str, bot: Bot) -> Answer:
    phase, _ = _phase(state, bot, "audio")
    if phase == "in_call":
        return 404, {"message": "Audio processing has not started: the bot is still in the call."}
    if phase == "none":
        return 404, {"message": "No audio recording is available for this bot."}
    if phase == "processing":
        return 202, {"message": "Audio is still being processed."}
    f = _file(bot.plan(), "mixed")
    return 200, {"audio_url": _url(state, base, bot, f, state.config.mixed_audio_ttl)}


def composite_video(state: SimulatorState, base: str, bot: Bot, ttl: float) -> Answer:
    phase, done = _phase(state, bot, "video")
    if phase == "in_call":
        return 404, {"message": "No video processing has been initiated for this bot."}
    if phase == "none" or not bot.video_required:
        return 404, {"message": "No video recording is available for this bot."}
    if phase == "processing":
        return 202, {"message": "Video is still being processed.", "stage": _stage(done)}
    plan = bot.plan()
    f = _file(plan, "composite")
    size = render_file(bot, plan, f, state.config.media).size
    fps = state.config.media.fps
    return 200, {
        "video_url": _url(state, base, bot, f, ttl),
        "video_info": {
            "duration": round(f.duration),
            "size_mb": round(size / 1e6, 3),
            "resolution": "1280x720",
            "fps": fps,
            "frames_processed": int(f.duration * fps),
            "corrupted_frames": 0,
        },
    }


def _stage(done: float) -> str:
    return "queued" if done < 1 / 3 else "transcoding" if done < 2 / 3 else "uploading"


def _segments(state: SimulatorState, base: str, bot: Bot, s: Stream, ttl: float) -> list[Any]:
    plan = bot.plan()
    out: list[dict[str, Any]] = []
    for f in list_files(plan):
        if f.stream != s:
            continue
        seg: dict[str, Any] = {
            "segment_index": f.segment_index,
            "url": _url(state, base, bot, f, ttl),
            "filename": f.filename,
        }
        if s.kind == "audio":
            # duration_seconds is talk time, as documented; the file spans the recording.
            seg |= {
                "duration_seconds": round(s.talk_seconds, 3),
                "sample_rate": 48000,
                "channels": 1,
                "codec": "opus",
            }
        else:
            w, h = (640, 360) if s.kind == "webcam" else (1280, 720)
            seg |= {
                "duration_seconds": round(f.duration, 3),
                "width": w,
                "height": h,
                "codec": "vp8",
            }
        out.append(seg)
    return out


def _group(
    state: SimulatorState, base: str, bot: Bot, streams: tuple[Stream, ...], ttl: float
) -> list[dict[str, Any]]:
    return [
        {
            "participant_name": s.name,
            "streams": [
                {"stream_id": s.stream_id, "segments": _segments(state, base, bot, s, ttl)}
            ],
        }
        for s in streams
    ]


def audio_streams(state: SimulatorState, base: str, bot: Bot, ttl: float) -> Answer:
    phase, _ = _phase(state, bot, "audio")
    if phase == "in_call":
        return 404, {"message": "No audio processing has been initiated for this bot."}
    none = {"bot_id": bot.bot_id, "audio_streams_available": False, "participants": []}
    if not bot.audio_separate:
        return 200, none | {
            "message": "No audio streams available: audio_separate_streams "
            "was not enabled for this bot."
        }
    if bot.script.platform == "teams":
        return 200, none | {
            "message": "No audio streams available: per-participant audio "
            "is not supported on Microsoft Teams."
        }
    if phase == "processing":
        return 202, {
            "bot_id": bot.bot_id,
            "audio_status": "in_progress",
            "message": "Audio streams are still being processed.",
        }
    plan = bot.plan() if phase == "ready" else None
    if plan is None or not plan.audio:
        return 200, none | {"message": "No audio streams available for this bot."}
    participants = _group(state, base, bot, plan.audio, ttl)
    return 200, {
        "bot_id": bot.bot_id,
        "audio_status": "Success",
        "audio_streams_available": True,
        "participants": participants,
        "summary": {"total_participants": len(participants), "total_segments": len(plan.audio)},
    }


def recording_streams(state: SimulatorState, base: str, bot: Bot, ttl: float, shape: str) -> Answer:
    phase, done = _phase(state, bot, "video")
    if phase == "in_call":
        return 404, {"message": "No video processing has been initiated for this bot."}
    none = {
        "bot_id": bot.bot_id,
        "recording_streams_available": False,
        "participants": [],
        "screenshares": [],
    }
    if not bot.video_separate:
        return 200, none | {
            "message": "No recording streams available: video_separate_streams "
            "was not enabled for this bot."
        }
    if phase == "processing":
        return 202, {
            "bot_id": bot.bot_id,
            "video_status": "in_progress",
            "stage": _stage(done),
            "message": "Video streams are still being processed.",
        }
    plan = bot.plan() if phase == "ready" else None
    if plan is None or not (plan.webcams or plan.screenshares):
        return 200, none | {"message": "No recording streams available for this bot."}
    if shape == "flat":
        flat = [
            {"participant": {"name": s.name}, "download_url": seg["url"], "type": s.kind}
            for s in (*plan.webcams, *plan.screenshares)
            for seg in _segments(state, base, bot, s, ttl)
        ]
        return 200, flat
    cams = _group(state, base, bot, plan.webcams, ttl)
    shares = _group(state, base, bot, plan.screenshares, ttl)
    total = sum(len(s.segments) for s in (*plan.webcams, *plan.screenshares))
    return 200, {
        "bot_id": bot.bot_id,
        "video_status": "Success",
        "recording_streams_available": True,
        "participants": cams,
        "screenshares": shares,
        "summary": {
            "total_participants": len(cams),
            "total_screenshares": len(shares),
            "total_segments": total,
        },
    }


def participants(state: SimulatorState, bot: Bot) -> Answer:
    tl, t = bot.timeline(), state.bot_time(bot)
    if tl.recording_start is None or t < tl.recording_start - 2.0:
        return 200, []
    left = t >= tl.stopped_at
    stamp = state.iso(bot.created_at + min(t, tl.stopped_at))
    plan = bot.plan()
    streams = [*plan.audio, *plan.webcams, *plan.screenshares]

    def ids(i: int, name: str) -> list[str]:
        # Inferred: a device lists the ids of every stream it produced (audio, webcam and
        # screen share); one that produced none lists the id it would have had.
        mine = dict.fromkeys(s.stream_id for s in streams if s.participant == i)
        return list(mine) or [stream_id(bot.link, i, name)]

    return 200, [
        {
            "deviceId": f"devices/{100 + i}",
            "displayName": p.name,
            "fullName": p.name,
            "profilePicture": None,
            "status": 2 if left else 1,
            "humanized_status": "left" if left else "joined",
            "streamIds": ids(i, p.name),
            "lastUpdated": stamp,
        }
        for i, p in enumerate(bot.script.participants)
    ]


def speaker_timeline(state: SimulatorState, bot: Bot) -> Answer:
    phase, _ = _phase(state, bot, "audio")
    if phase == "none":
        return 404, {"message": "No audio recording is available for this bot."}
    if phase != "ready":
        return 202, {"message": "Speaker timeline is still being processed."}
    tl = bot.timeline()
    start = bot.created_at + (tl.recording_start or 0.0)
    rate, length = 48000, tl.recording_length
    spans = sorted(
        (s, min(e, length), i)
        for i, p in enumerate(bot.script.participants)
        for s, e in p.speech
        if s < length
    )
    chunks = [
        {
            "chunkIndex": n,
            "timestamp": state.iso(start + s),
            "sampleRate": rate,
            "speakerId": f"devices/{100 + i}",
            "speakerName": bot.script.participants[i].name,
            "startByte": int(s * rate * 2),
            "endByte": int(e * rate * 2),
        }
        for n, (s, e, i) in enumerate(spans)
    ]
    return 200, {
        "chunks": chunks,
        "lastUpdated": state.iso(start + length),
        "audioFilePath": f"{bot.bot_id}/audio.wav",
        "totalFileSize": int(length * rate * 2),
    }
