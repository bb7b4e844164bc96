"""The async MeetStream REST client: auth, endpoints, typed answers and bounded waits.

`MeetStreamClient` is the public API: one method per endpoint, returning validated models,
plus the waits that poll them (`meetstream_catalog.meetstream.polling.Waits`). How a request
is sent, retried and decoded is `meetstream_catalog.meetstream.transport` (the one place
transient API failures are retried, within the settings' `outage_tolerance_seconds`);
errors are the typed ones of `meetstream_catalog.meetstream.errors`.

Traps guarded against:
- the API key is read at first use, never at construction or import, and never reaches a
  repr, a log line or an exception text (it is held as a `SecretStr`);
- 202 "not ready" never passes as success, and a create without an idempotency or
  deduplication key is sent with `retry=False`, so a retry cannot start a second bot;
- bot ids come from outside, so they are checked before they become part of a path;
- an injected `httpx.AsyncClient` stays open: the client closes only what it created.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr, TypeAdapter

from meetstream_catalog.meetstream.account import BotPage
from meetstream_catalog.meetstream.bot import BotCreated, BotDetail, BotStatus
from meetstream_catalog.meetstream.models import (
    AudioManifest,
    CompositeVideo,
    MeetingParticipant,
    MixedAudio,
    VideoManifest,
)
from meetstream_catalog.meetstream.polling import Sleep, Waits
from meetstream_catalog.meetstream.timeline import SpeakerTimeline
from meetstream_catalog.meetstream.transcripts import (
    Transcribed,
    Transcript,
    TranscriptRun,
    TranscriptRuns,
    provider_config,
)
from meetstream_catalog.meetstream.transport import API_BACKOFF, Transport, parse
from meetstream_catalog.retry import Backoff
from meetstream_catalog.settings import Settings

T = TypeVar("T")

_BOT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}")
_PARTICIPANTS: TypeAdapter[list[MeetingParticipant]] = TypeAdapter(list[MeetingParticipant])


class MeetStreamClient(Waits):
    """Async client of the MeetStream REST API. Use as `async with MeetStreamClient(...)`.

    Transient failures are retried for `settings.outage_tolerance_seconds` with `backoff`;
    `sleep` and `clock` pace the waits (`wait_until_left`, `wait_for_*`).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http: httpx.AsyncClient | None = None,
        settings: Settings | None = None,
        backoff: Backoff = API_BACKOFF,
        timeout: float | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings if settings is not None else Settings()
        # Checked at first use, so building a client never needs a secret; SecretStr keeps it
        # out of vars(), pickles and anything else that walks the object's attributes.
        self._api_key = SecretStr(api_key) if api_key else self._settings.api_key
        self._base_url = (base_url or self._settings.api_url).rstrip("/")
        if not self._base_url.startswith(("http://", "https://")):
            raise ValueError("MEETSTREAM_API_URL must be an http:// or https:// URL")
        self._owns_http = http is None
        self._http = (
            http
            if http is not None
            else httpx.AsyncClient(timeout=timeout or self._settings.http_timeout_seconds)
        )
        self._transport = Transport(
            self._http,
            self._base_url,
            budget=self._settings.outage_tolerance_seconds,
            backoff=backoff,
            timeout=httpx.Timeout(timeout) if timeout is not None else None,
        )
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:
        key = "set" if self._secrets() else "missing"
        return f"MeetStreamClient(base_url={self._base_url!r}, api_key={key})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it (an injected one stays open)."""
        if self._owns_http:
            await self._http.aclose()

    # Endpoints ----------------------------------------------------------------------------

    async def create_bot(
        self,
        *,
        meeting_link: str,
        bot_name: str,
        idempotency_key: str | None = None,
        audio_separate_streams: bool = True,
        video_separate_streams: bool = True,
        video_required: bool | None = None,
        join_at: datetime | None = None,
        callback_url: str | None = None,
        custom_attributes: Mapping[str, str] | None = None,
        deduplication_key: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> BotCreated:
        """Send a bot into a meeting. `replayed` is True when the API returned an existing bot
        (507 for a reused Idempotency-Key, 200 for a reused deduplication_key).

        Make `idempotency_key` once per meeting request, outside any retry, and keep it.
        Raises ConflictError (409), BadRequestError (400) and the other MeetStreamErrors.
        """
        body: dict[str, object] = {
            "meeting_link": meeting_link,
            "bot_name": bot_name,
            # Top level on purpose: the nested recording_config copies lose when both are set.
            "audio_separate_streams": audio_separate_streams,
            "video_separate_streams": video_separate_streams,
        }
        if join_at is not None:
            if join_at.tzinfo is None:
                raise ValueError("join_at must be timezone-aware")
            body["join_at"] = join_at.isoformat()
        optional = {
            "video_required": video_required,
            "callback_url": callback_url,
            "custom_attributes": dict(custom_attributes) if custom_attributes else None,
            "deduplication_key": deduplication_key,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        recording = self._recording_config()
        if recording and not (extra and "recording_config" in extra):
            body["recording_config"] = recording
        if extra and (clash := sorted(body.keys() & extra.keys())):
            raise ValueError(f"extra repeats arguments of create_bot: {', '.join(clash)}")
        body.update(extra or {})
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        status, data = await self._transport.request_json(
            "create_bot",
            "POST",
            "/bots/create_bot",
            key=self._key(),
            json=body,
            headers=headers,
            retry=bool(idempotency_key or deduplication_key),
        )
        created = parse(BotCreated.model_validate, data, "create_bot")
        return created.model_copy(update={"replayed": status in (200, 507)})

    def _recording_config(self) -> dict[str, object]:
        """`recording_config` from the settings: retention and the transcript provider."""
        settings, recording = self._settings, dict[str, object]()
        if settings.retention_hours is not None:
            # Documented defaults disagree (kept forever / 24 h / 720 h): always send it.
            recording["retention"] = {"type": "timed", "hours": settings.retention_hours}
        if settings.transcript_provider is not None:
            provider = provider_config(
                settings.transcript_provider,
                model=settings.transcript_model,
                language=settings.transcript_language,
            )
            recording["transcript"] = {"provider": provider}
        return recording

    async def get_status(self, bot_id: str) -> BotStatus:
        """Current status; compare with `.state` (BotState, case-insensitive)."""
        return await self._get(bot_id, "status", BotStatus.model_validate)

    async def get_detail(self, bot_id: str) -> BotDetail:
        """The bot record (platform, status timeline, custom attributes)."""
        return await self._get(bot_id, "detail", BotDetail.model_validate)

    async def remove_bot(self, bot_id: str) -> str:
        """Make the bot leave (the API uses GET); recordings are kept. Returns its message."""
        data = await self._get(bot_id, "remove_bot", lambda data: data)
        message = data.get("message") if isinstance(data, dict) else None
        return message if isinstance(message, str) else ""

    async def list_bots(self, *, cursor: str | None = None) -> BotPage:
        """One page of the account's bots (`GET /bots`), all of them whoever created them;
        `cursor`: the previous page's `next_cursor`."""
        return await self._page("list_bots", "/bots", cursor, scheduled=False)

    async def list_scheduled_bots(self, *, cursor: str | None = None) -> BotPage:
        """One page of the bots the connected calendars scheduled (`GET
        /calendar/scheduled_bots`), each marked `scheduled`."""
        return await self._page(
            "list_scheduled_bots", "/calendar/scheduled_bots", cursor, scheduled=True
        )

    async def get_audio(self, bot_id: str) -> MixedAudio:
        """Mixed audio URL (presigned, 1 h). NotReadyError while processing."""
        return await self._get(bot_id, "get_audio", MixedAudio.model_validate)

    async def get_video(self, bot_id: str) -> CompositeVideo:
        """Composite video URL (presigned, 10 min). NotReadyError while processing."""
        return await self._get(bot_id, "get_video", CompositeVideo.model_validate)

    async def get_audio_streams(self, bot_id: str) -> AudioManifest:
        """Per-participant audio; `available=False` is a normal answer. NotReadyError if not yet."""
        return await self._get(bot_id, "get_audio_streams", AudioManifest.model_validate)

    async def get_recording_streams(self, bot_id: str) -> VideoManifest:
        """Per-participant video, either documented shape. NotReadyError if not yet."""
        return await self._get(bot_id, "get_recording_streams", VideoManifest.model_validate)

    async def get_participants(self, bot_id: str) -> list[MeetingParticipant]:
        """One entry per device (one person on two devices is two entries)."""
        return await self._get(bot_id, "get_participants", _participants)

    async def get_speaker_timeline(self, bot_id: str) -> SpeakerTimeline:
        """Who spoke when (byte offsets into 16-bit PCM). NotReadyError while processing."""
        return await self._get(bot_id, "get_speaker_timeline", SpeakerTimeline.model_validate)

    async def get_transcript(self, transcript_id: str, *, raw: bool = False) -> Transcript:
        """A transcript by its id (not the bot's): utterances in the neutral shape (`raw`
        asks for the provider's own JSON, parsed too where known). NotReadyError while
        processing (202); NotFoundError for an unknown id."""
        suffix = "?raw=true" if raw else ""
        path = f"/transcript/{_checked_bot_id(transcript_id)}/get_transcript{suffix}"
        _, data = await self._transport.request_json("get_transcript", "GET", path, key=self._key())
        return parse(Transcript.parse, data, "get_transcript")

    async def list_transcriptions(self, bot_id: str) -> list[TranscriptRun]:
        """Every transcription run of the bot (`Success`, `Processing`, `Failed`)."""
        runs = await self._get(bot_id, "transcriptions", TranscriptRuns.model_validate)
        return runs.transcriptions

    async def transcribe(
        self,
        bot_id: str,
        *,
        provider: Mapping[str, object],
        callback_url: str | None = None,
    ) -> Transcribed:
        """Start a new post-call transcription of the bot's stored audio; its id becomes the
        bot's transcript id. Not retried: every accepted call is a new (paid) run."""
        body: dict[str, object] = {"provider": dict(provider)}
        if callback_url:
            body["callback_url"] = callback_url
        path = f"/bots/{_checked_bot_id(bot_id)}/transcribe"
        _, data = await self._transport.request_json(
            "transcribe", "POST", path, key=self._key(), json=body, retry=False
        )
        return parse(Transcribed.model_validate, data, "transcribe")

    async def delete_bot_data(self, bot_id: str) -> int | None:
        """Delete the bot's recordings and media at MeetStream (`DELETE /bots/{id}/delete`).

        Irreversible: call it only once every file is archived and verified. Returns
        `deleted_objects` (None if the answer does not say).
        """
        path = f"/bots/{_checked_bot_id(bot_id)}/delete"
        _, data = await self._transport.request_json("delete", "DELETE", path, key=self._key())
        count = data.get("deleted_objects") if isinstance(data, dict) else None
        return count if isinstance(count, int) and not isinstance(count, bool) else None

    # Requests -------------------------------------------------------------------------------

    async def _get(self, bot_id: str, endpoint: str, validate: Callable[[object], T]) -> T:
        path = f"/bots/{_checked_bot_id(bot_id)}/{endpoint}"
        _, data = await self._transport.request_json(endpoint, "GET", path, key=self._key())
        return parse(validate, data, endpoint)

    async def _page(self, op: str, path: str, cursor: str | None, *, scheduled: bool) -> BotPage:
        query = "?" + urlencode({"cursor": cursor}) if cursor else ""
        _, data = await self._transport.request_json(op, "GET", path + query, key=self._key())
        page = parse(BotPage.model_validate, data, op)
        if scheduled:
            page.bots = [b.model_copy(update={"scheduled": True}) for b in page.bots]
        return page

    def _key(self) -> str:
        key = self._api_key.get_secret_value() if self._api_key else ""
        return key or self._settings.require_api_key()  # raises, saying what to set

    def _secrets(self) -> tuple[str, ...]:
        key = self._api_key.get_secret_value() if self._api_key else ""
        return (key,) if key else ()


def _participants(data: object) -> list[MeetingParticipant]:
    if isinstance(data, dict) and isinstance(data.get("participants"), list):
        data = data["participants"]  # a wrapped list too: be liberal on input
    return _PARTICIPANTS.validate_python(data)


def _checked_bot_id(bot_id: str) -> str:
    if not isinstance(bot_id, str) or not _BOT_ID.fullmatch(bot_id) or ".." in bot_id:
        raise ValueError(
            f"invalid bot id {str(bot_id)[:80]!r}: expected 1-128 letters, digits or ._:~-"
        )
    return bot_id
