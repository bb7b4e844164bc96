"""The Starlette ASGI app: MeetStream REST routes, wired with ``/media`` and admin routes.

Routes live under ``/api/v1`` (the SDK's default base URL ends in ``/api/v1``); the same
routes are also mounted at the root so a base URL without the suffix works too.

Traps guarded against: ``Authorization: Bearer`` is a 401 like a missing header (the REST
API only knows ``Token``), a wrong key is a 403; media downloads never look at the
``Authorization`` header (presigned URLs are bearer credentials by themselves).
Lifecycle webhooks are pumped on every request and, when the server runs a lifespan
(uvicorn), by a 100 ms ticker, so they fire on time with a real clock too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from meetstream_catalog.simulator import account, calendar_feed, manifests, transcripts
from meetstream_catalog.simulator.admin import admin_routes, pump
from meetstream_catalog.simulator.downloads import media
from meetstream_catalog.simulator.faults import FaultRule
from meetstream_catalog.simulator.media import list_files
from meetstream_catalog.simulator.meeting import Event
from meetstream_catalog.simulator.state import ApiError, SimulatorConfig, SimulatorState

Handler = Callable[[Request, SimulatorState, FaultRule | None], Awaitable[manifests.Answer]]


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.sim
    return state


def _auth(request: Request, key: str) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme != "Token" or not token.strip():
        return JSONResponse({"message": "Authentication credentials were not provided."}, 401)
    if token.strip() != key:
        return JSONResponse({"message": "Invalid token."}, 403)
    return None


def _fault_response(rule: FaultRule) -> Response:
    status = int(rule.status or 500)
    default = "Request was throttled." if status == 429 else "Internal server error."
    headers = {}
    if status == 429 or rule.retry_after is not None:
        headers["Retry-After"] = str(int(rule.retry_after if rule.retry_after is not None else 1))
    return JSONResponse({"message": rule.message or default}, status, headers=headers)


def _origin(request: Request) -> str:
    # Not request.base_url: inside a Mount it includes the mount path (/api/v1).
    return f"{request.url.scheme}://{request.url.netloc}"


def api(name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler with webhook pumping, auth, fault injection and error bodies."""

    async def endpoint(request: Request) -> Response:
        state = _state(request)
        request.app.state.calls[name] += 1
        if (bot_id := request.path_params.get("bot_id")) is not None:
            request.app.state.bot_calls[bot_id][name] += 1
        pump(state)
        denied = _auth(request, state.config.api_key)
        if denied is not None:
            return denied
        rule = state.faults.take(name, request.path_params.get("bot_id"), state.clock.now())
        if rule is not None and rule.delay:
            # Received in full, then slow: it takes effect even if the client is gone by then.
            await request.body()
            await asyncio.sleep(rule.delay)
        if rule is not None and rule.status is not None:
            return _fault_response(rule)
        try:
            status, body = await handler(request, state, rule)
        except ApiError as exc:
            return JSONResponse({"message": exc.message}, exc.status)
        if rule is not None and rule.hold_answer:
            await asyncio.sleep(rule.hold_answer)  # done, but the client does not know yet
        return JSONResponse(body, status)

    return endpoint


def _ttl(state: SimulatorState, rule: FaultRule | None) -> float:
    if rule is not None and rule.expire_after is not None:
        return rule.expire_after
    return state.config.url_ttl


async def create_bot(
    request: Request, state: SimulatorState, _: FaultRule | None
) -> manifests.Answer:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    return state.create_bot(body, request.headers.get("idempotency-key"))


def _bot_handler(
    fn: Callable[[Request, SimulatorState, Any, FaultRule | None], manifests.Answer],
) -> Handler:
    async def handler(request: Request, state: SimulatorState, rule: FaultRule | None) -> Any:
        return fn(request, state, state.get_bot(request.path_params["bot_id"]), rule)

    return handler


def _status(request: Request, state: SimulatorState, bot: Any, _: Any) -> manifests.Answer:
    status = bot.timeline().status_at(state.bot_time(bot))
    return 200, {"bot_id": bot.bot_id, "status": status, "custom_attributes": bot.custom_attributes}


_STAGES = {
    "Joining": "Joining",
    "InWaitingRoom": "WaitingRoom",
    "InMeeting": "InMeeting",
    "Recording": "Recording",
    "Leaving": "Leaving",
    "Stopped": "Stopped",
    "NotAllowed": "BotNotAllowed",
    "Denied": "BotRejected",
    "Error": "Error",
    "Done": "Done",
}


def _detail(request: Request, state: SimulatorState, bot: Any, _: Any) -> manifests.Answer:
    tl, t = bot.timeline(), state.bot_time(bot)
    stages = {
        _STAGES[s]: {"message": s, "status": True, "timestamp": state.iso(bot.created_at + at)}
        for at, s in tl.transitions
        if at <= t
    }
    audio_done = tl.audio_ready is not None and t >= tl.audio_ready
    return 200, {
        "bot_details": {
            "BotID": bot.bot_id,
            "Status": tl.status_at(t),
            "Platform": bot.script.platform,
            "MeetingLink": bot.link,
            "BotName": bot.bot_name,
            "StatusTimeline": stages,
            "AudioStatus": "Success" if audio_done else "Pending",
            "TranscriptStatus": _transcript_status(state, bot),
            "transcript_id": bot.latest_transcript_id,
            "RequestPayload": bot.request,
            "custom_attributes": bot.custom_attributes,
        }
    }


def _transcript_status(state: SimulatorState, bot: Any) -> str | None:
    tid = bot.latest_transcript_id
    if tid is None:
        return None
    runs = transcripts.transcriptions(state, bot)[1]["transcriptions"]
    return next((r["status"] for r in runs if r["transcript_id"] == tid), None)


async def _get_transcript(
    request: Request, state: SimulatorState, _: FaultRule | None
) -> manifests.Answer:
    raw = request.query_params.get("raw", "").casefold() in ("true", "1")
    return transcripts.get_transcript(state, request.path_params["transcript_id"], raw)


async def _transcribe(
    request: Request, state: SimulatorState, _: FaultRule | None
) -> manifests.Answer:
    bot = state.get_bot(request.path_params["bot_id"])
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    return transcripts.transcribe(state, bot, body)


def _transcriptions(request: Request, state: SimulatorState, bot: Any, _: Any) -> manifests.Answer:
    return transcripts.transcriptions(state, bot)


def _remove(request: Request, state: SimulatorState, bot: Any, _: Any) -> manifests.Answer:
    t = state.bot_time(bot)
    tl = bot.timeline()
    if t >= tl.stopped_at or tl.status_at(t) == "Leaving":
        return 404, {"message": "Bot is not in a meeting."}
    bot.removed_at = t
    return 200, {"message": "Bot is leaving the meeting."}


def _delete(request: Request, state: SimulatorState, bot: Any, _: Any) -> manifests.Answer:
    """Delete the bot's data: later calls and media URLs answer 404, `data_deletion` is sent.

    Inferred: a bot still in the call answers 409 (the contract documents only the 200).
    """
    t, tl = state.bot_time(bot), bot.timeline()
    if t < tl.stopped_at:
        return 409, {"message": "The bot is still in the meeting; remove it first."}
    count = len(list_files(bot.plan())) if tl.recording_length else 0
    status = tl.status_at(t)
    bot.deleted = Event(
        t, "data_deletion", status, "Bot data deleted", extra={"deleted_objects": count}
    )
    return 200, {"message": "Bot data deleted.", "bot_id": bot.bot_id, "deleted_objects": count}


def _media_handler(kind: str) -> Handler:
    def fn(request: Request, state: SimulatorState, bot: Any, rule: Any) -> manifests.Answer:
        base, ttl = _origin(request), _ttl(state, rule)
        if kind == "audio":
            return manifests.mixed_audio(state, base, bot)
        if kind == "video":
            return manifests.composite_video(state, base, bot, ttl)
        if kind == "audio_streams":
            return manifests.audio_streams(state, base, bot, ttl)
        if kind == "recording_streams":
            shape = bot.script.video_shape or state.config.video_shape
            return manifests.recording_streams(state, base, bot, ttl, shape)
        if kind == "participants":
            return manifests.participants(state, bot)
        return manifests.speaker_timeline(state, bot)

    return _bot_handler(fn)


def _api_routes() -> list[BaseRoute]:
    bot = "/bots/{bot_id}"
    views = [
        ("get_audio", "audio"),
        ("get_video", "video"),
        ("get_audio_streams", "audio_streams"),
        ("get_recording_streams", "recording_streams"),
        ("get_participants", "participants"),
        ("get_speaker_timeline", "timeline"),
    ]
    routes: list[BaseRoute] = [
        Route("/bots/create_bot", api("create_bot", create_bot), methods=["POST"]),
        Route("/bots/create_agent", api("create_bot", create_bot), methods=["POST"]),
        Route("/bots", api("list_bots", account.list_bots)),
        Route("/calendar/scheduled_bots", api("list_scheduled_bots", account.list_scheduled_bots)),
        Route(f"{bot}/status", api("status", _bot_handler(_status))),
        Route(f"{bot}/detail", api("detail", _bot_handler(_detail))),
        Route(f"{bot}/remove_bot", api("remove_bot", _bot_handler(_remove))),
        Route(f"{bot}/delete", api("delete", _bot_handler(_delete)), methods=["DELETE"]),
        Route(f"{bot}/transcriptions", api("transcriptions", _bot_handler(_transcriptions))),
        Route(f"{bot}/transcribe", api("transcribe", _transcribe), methods=["POST"]),
        Route(
            "/transcript/{transcript_id}/get_transcript",
            api("get_transcript", _get_transcript),
        ),
    ]
    routes += [Route(f"{bot}/{path}", api(path, _media_handler(kind))) for path, kind in views]
    return routes


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return JSONResponse({"message": "Not found." if status == 404 else str(exc)}, status)


def create_app(config: SimulatorConfig) -> Starlette:
    """The simulator as an ASGI app; its state is ``app.state.sim``."""
    state = SimulatorState(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def tick() -> None:
            while True:
                pump(state)
                await asyncio.sleep(0.1)

        ticker = asyncio.create_task(tick())
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await state.webhooks.aclose()

    api_routes = _api_routes()
    routes: list[BaseRoute] = [
        Mount("/api/v1", routes=api_routes),
        Route("/media/{bot_id}/{kind}/{filename}", media, methods=["GET", "HEAD"]),
        Route("/example/meetings.ics", calendar_feed.example_feed),
        Mount("/_simulator", routes=admin_routes()),
        *api_routes,
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _not_found}
    )
    app.state.sim = state
    app.state.calls = Counter()  # API requests per endpoint name, for /_simulator/requests
    app.state.bot_calls = defaultdict(Counter)  # the same, per bot id in the path
    return app
