"""One meeting's capture, as plain async steps: create, wait, collect, archive, catalogue.

`tasks.steps` wraps each step in a Prefect task; nothing here imports Prefect, so every
step runs and tests without a Prefect API. The traps guarded here:

- the idempotency key comes from `tasks.request`, derived once from the request, so a
  retried task or a re-run flow replays the same bot (507) instead of a second one;
- presigned URLs expire after 10 minutes, so manifests never leave this module with their
  URLs: `Manifests.without_urls()` is what callers keep, and the archive step re-fetches
  the manifest whenever a URL has died;
- Denied / NotAllowed / Error bots and "no streams available" are outcomes to catalogue,
  not exceptions;
- the attendee list (`get_participants`) is an extra: when it is missing or malformed the
  capture goes on without it, and only the URL-free `MeetingParticipant` fields are kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, Field

from tasks import archive, catalog, join
from tasks.client import MeetStreamClient
from tasks.errors import NotFoundError, NotReadyError, UnexpectedResponseError
from tasks.models import (
    ArchivedMedia,
    AudioManifest,
    BotState,
    CompositeVideo,
    MediaFile,
    MeetingParticipant,
    MixedAudio,
    VideoManifest,
)
from tasks.request import MeetingRequest, platform_from_link

_T = TypeVar("_T")


async def create_bot(client: MeetStreamClient, request: MeetingRequest, key: str) -> dict[str, Any]:
    """Create (or replay) the bot; returns its id, create-time status and whether replayed."""
    created = await client.create_bot(
        meeting_link=request.link(),
        bot_name=request.bot_name,
        idempotency_key=key,
        audio_separate_streams=True,
        video_separate_streams=True,
        video_required=request.composite_video,
        join_at=request.join_at,
        custom_attributes=request.custom_attributes or None,
    )
    return {"bot_id": created.bot_id, "status": created.status, "replayed": created.replayed}


class Manifests(BaseModel):
    """Everything MeetStream delivered for one bot. Holds presigned URLs until stripped.

    `attendees` never holds a URL: `MeetingParticipant` drops `profilePicture` and every
    other field it does not declare.
    """

    audio: AudioManifest | None = None
    video: VideoManifest | None = None
    mixed: MixedAudio | None = None
    composite: CompositeVideo | None = None
    attendees: list[MeetingParticipant] = Field(default_factory=list)

    def without_urls(self) -> Manifests:
        """A copy safe to return from a task, log or persist: every URL blanked."""
        data = self.model_dump(by_alias=True)
        for side in ("audio", "video"):
            for group in ("participants", "screenshares"):
                for person in (data.get(side) or {}).get(group, []):
                    for stream in person["streams"]:
                        for segment in stream["segments"]:
                            segment["url"] = None
        if data.get("mixed"):
            data["mixed"]["audio_url"] = ""
        if data.get("composite"):
            data["composite"]["video_url"] = ""
        return Manifests.model_validate(data)


async def fetch_manifests(
    client: MeetStreamClient,
    bot_id: str,
    *,
    state: BotState,
    deadline_seconds: float,
    poll_interval: float,
    poll_max_interval: float,
) -> Manifests:
    """Wait (bounded) for both per-participant manifests, then fetch the mixed media and
    the attendee list (both best effort).

    NotAllowed / Denied bots recorded nothing, so there is nothing to wait for.
    """
    if state.produced_no_media:
        return Manifests()
    audio = await client.wait_for_audio_streams(
        bot_id,
        timeout=deadline_seconds,
        initial_interval=poll_interval,
        max_interval=poll_max_interval,
    )
    video = await client.wait_for_recording_streams(
        bot_id,
        timeout=deadline_seconds,
        initial_interval=poll_interval,
        max_interval=poll_max_interval,
    )
    mixed = await _optional(client.get_audio(bot_id))
    composite = await _optional(client.get_video(bot_id))
    attendees = await _attendees(client, bot_id)
    return Manifests(
        audio=audio, video=video, mixed=mixed, composite=composite, attendees=attendees
    )


async def _optional(call: Awaitable[_T]) -> _T | None:
    """Mixed audio / composite video are extras: absent or unfinished means None."""
    try:
        return await call
    except (NotFoundError, NotReadyError):
        return None


async def _attendees(client: MeetStreamClient, bot_id: str) -> list[MeetingParticipant]:
    """Who attended, per device. An extra: absent, unfinished or malformed means nobody
    beyond the manifests (the join then has no `no_media` rows), never a failed capture."""
    try:
        return await client.get_participants(bot_id)
    except (NotFoundError, NotReadyError, UnexpectedResponseError):
        return []


async def archive_media(
    client: MeetStreamClient,
    http: httpx.AsyncClient,
    bot_id: str,
    manifests: Manifests,
    *,
    media_root: str,
    storage_options: Mapping[str, object],
    expected: Mapping[str, str],
    concurrency: int = 4,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> list[ArchivedMedia]:
    """Copy every planned file into storage; a dead URL re-fetches the manifest it came from.

    `on_progress(files_done, files_total, bytes_done)` is called as each file is stored.
    """
    current = manifests
    items = archive.plan_media(
        bot_id, current.audio, current.video, current.mixed, current.composite
    )

    async def fetch_url(item: MediaFile, refresh: bool) -> str:
        nonlocal current
        if refresh:
            current = await _refetch(client, bot_id, item, current)
        return archive.segment_url(
            item, current.audio, current.video, current.mixed, current.composite
        )

    done = [0, 0]  # files, bytes

    def archived(media: ArchivedMedia) -> None:
        done[0] += 1
        done[1] += media.bytes or 0
        if on_progress is not None:
            on_progress(done[0], len(items), done[1])

    return await archive.archive_all(
        items,
        fetch_url_for=fetch_url,
        http=http,
        media_root=media_root,
        storage_options=storage_options,
        expected=expected,
        concurrency=concurrency,
        on_archived=archived,
    )


async def _refetch(
    client: MeetStreamClient, bot_id: str, item: MediaFile, current: Manifests
) -> Manifests:
    if item.kind == "audio":
        return current.model_copy(update={"audio": await client.get_audio_streams(bot_id)})
    if item.kind in ("webcam", "screenshare"):
        return current.model_copy(update={"video": await client.get_recording_streams(bot_id)})
    if item.kind == "mixed_audio":
        return current.model_copy(update={"mixed": await client.get_audio(bot_id)})
    return current.model_copy(update={"composite": await client.get_video(bot_id)})


def outcome_for(state: BotState, manifests: Manifests) -> tuple[str, str]:
    """(outcome, reason) for the bots table."""
    if state is BotState.DENIED:
        return "denied", "The host refused the bot entry."
    if state is BotState.NOT_ALLOWED:
        return "not_allowed", "The bot was never admitted from the waiting room."
    audio_ok = manifests.audio is not None and manifests.audio.available
    video_ok = manifests.video is not None and manifests.video.available
    if state is BotState.ERROR:
        return "error", "The bot's session crashed; media may be partial."
    if not audio_ok and not video_ok:
        messages = [m.message for m in (manifests.audio, manifests.video) if m and m.message]
        return "no_media", " ".join(messages) or "No audio or video streams available."
    return "captured", ""


def write_catalog(
    *,
    catalog_root: str,
    storage_options: Mapping[str, object],
    request: MeetingRequest,
    key: str,
    bot_id: str,
    platform: str | None,
    state: BotState,
    manifests: Manifests,
    media: Sequence[ArchivedMedia],
    created_at: dt.datetime | None,
    left_at: dt.datetime | None,
    outcome: tuple[str, str] | None = None,
    run_id: str | None = None,
) -> catalog.BotRecord:
    """Join the manifests and write this bot's rows (replacing any earlier ones)."""
    participants = join.join_participants(
        bot_id,
        manifests.audio,
        manifests.video,
        media,
        platform=platform,
        # The bot may list itself as a participant; it is not an attendee without media.
        attendees=[
            a
            for a in manifests.attendees
            if join.normalize_name(a.display_name or "") != join.normalize_name(request.bot_name)
        ],
    )
    outcome_name, reason = outcome or outcome_for(state, manifests)
    record = catalog.bot_record(
        bot_id=bot_id,
        request_id=key,
        bot_name=request.bot_name,
        meeting_link=request.meeting_link,
        platform=platform,
        final_status=state.value,
        outcome=outcome_name,
        reason=reason,
        created_at=created_at,
        left_at=left_at,
        join_at=request.join_at,
        audio=manifests.audio,
        video=manifests.video,
        media=media,
        participants=participants,
        custom_attributes=request.custom_attributes,
        run_id=run_id,
    )
    catalog.write_bot(
        catalog_root,
        bot=record,
        media=media,
        participants=participants,
        storage_options=storage_options,
    )
    return record


def record_failure(
    *,
    catalog_root: str,
    storage_options: Mapping[str, object],
    request: MeetingRequest,
    key: str,
    bot_id: str,
    reason: str,
    created_at: dt.datetime | None,
) -> bool:
    """Catalogue a bot whose capture failed, unless it already has rows.

    An earlier successful run's rows are better than a failure row with no media, so they
    are kept; a re-run that succeeds replaces the failure row. Returns whether it wrote.
    """
    known = catalog.read_table(
        "bots",
        catalog_root,
        filters=[("bot_id", "==", bot_id)],
        columns=["bot_id"],
        storage_options=storage_options,
    )
    if len(known):
        return False
    write_catalog(
        catalog_root=catalog_root,
        storage_options=storage_options,
        request=request,
        key=key,
        bot_id=bot_id,
        platform=platform_from_link(request.meeting_link),
        state=BotState.UNKNOWN,
        manifests=Manifests(),
        media=[],
        created_at=created_at,
        left_at=None,
        outcome=("failed", reason),
    )
    return True
