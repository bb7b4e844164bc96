"""Admin routes under ``/_simulator/``: the manual clock, runtime faults, reset, inspection.

These routes take no MeetStream auth: they exist for tests and demos on a loopback-bound
server (the default host is 127.0.0.1; do not expose a simulator on a shared network).

Trap guarded against: advancing the clock must also fire the webhooks that became due,
otherwise a test that advances an hour waits for a ticker that ASGITransport never runs.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from meetstream_catalog.simulator.faults import FaultError, parse_fault
from meetstream_catalog.simulator.state import SimulatorState
from meetstream_catalog.simulator.webhooks import parse_delivery_faults


def pump(state: SimulatorState) -> None:
    """Queue webhooks for every event that is due on the meeting clock."""
    with state.lock:
        bots = list(state.bots.values())
    state.webhooks.pump(bots, state.clock.now(), lambda b, e: state.iso(b.created_at + e.at))


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.sim
    return state


async def _json(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


async def advance(request: Request) -> Response:
    state = _state(request)
    try:
        seconds = float((await _json(request)).get("seconds", 0))
    except (ValueError, AttributeError, TypeError):
        return JSONResponse({"message": 'Body must be {"seconds": <number>}.'}, 400)
    if seconds < 0:
        return JSONResponse({"message": "The clock only moves forward."}, 400)
    now = state.clock.advance(seconds)
    pump(state)
    return JSONResponse({"clock": now, "speed": state.clock.speed})


async def clock(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({"clock": state.clock.now(), "speed": state.clock.speed})


async def faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.faults.clear()
    elif request.method == "POST":
        try:
            body = await _json(request)
            raw = body.get("rules", [body]) if isinstance(body, dict) else body
            rules = [parse_fault(r) for r in raw]
        except (ValueError, TypeError, FaultError) as exc:
            return JSONResponse({"message": f"Invalid fault rule: {exc}"}, 400)
        for rule in rules:
            state.faults.add(rule)
    status = 201 if request.method == "POST" else 200
    return JSONResponse({"faults": [r.to_json() for r in state.faults.rules()]}, status)


async def webhook_faults(request: Request) -> Response:
    """GET / POST the delivery faults of webhooks (drop, duplicate, delay, reorder, seed)."""
    state = _state(request)
    if request.method == "POST":
        try:
            state.webhooks.set_faults(parse_delivery_faults(await _json(request)))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"message": f"Invalid webhook faults: {exc}"}, 400)
    return JSONResponse(state.webhooks.faults.to_json())


async def reset(request: Request) -> Response:
    _state(request).reset()
    request.app.state.calls.clear()
    request.app.state.bot_calls.clear()
    return JSONResponse({"message": "Simulator state reset."})


async def bots(request: Request) -> Response:
    """Every bot with its script-derived timeline: handy when writing a scenario."""
    state = _state(request)
    out = []
    with state.lock:
        listed = list(state.bots.values())
    for bot in listed:
        tl, plan = bot.timeline(), bot.plan()
        out.append(
            {
                "bot_id": bot.bot_id,
                "meeting_url": bot.link,
                "platform": bot.script.platform,
                "status": tl.status_at(state.bot_time(bot)),
                "elapsed": state.bot_time(bot),
                "created_at": bot.created_at,
                "events": [
                    {"at": e.at, "event": e.event, "bot_status": e.bot_status} for e in tl.events
                ],
                "recording_length": tl.recording_length,
                "audio_streams": len(plan.audio),
                "webcam_streams": len(plan.webcams),
                "screenshare_streams": len(plan.screenshares),
                "speaker_cap_reached": plan.speaker_cap_reached,
                "camera_cap_reached": plan.camera_cap_reached,
                "webhooks_sent": sorted(bot.sent_events),
            }
        )
    return JSONResponse(
        {
            "bots": out,
            "webhooks": {
                "delivered": state.webhooks.delivered,
                "failed": state.webhooks.failed,
                "dropped": state.webhooks.dropped,
            },
        }
    )


async def requests(request: Request) -> Response:
    """API requests answered so far (auth failures and injected faults included), per
    endpoint name (`status`, `create_bot`, `get_audio_streams`, ...) and, for the calls
    about one bot, per bot id; media downloads and admin routes are not counted. Benches
    and tests read it to report API calls per meeting."""
    calls: dict[str, int] = dict(request.app.state.calls)
    by_bot = {bot: dict(counts) for bot, counts in request.app.state.bot_calls.items()}
    return JSONResponse({"total": sum(calls.values()), "by_endpoint": calls, "by_bot": by_bot})


def admin_routes() -> list[BaseRoute]:
    return [
        Route("/advance", advance, methods=["POST"]),
        Route("/clock", clock, methods=["GET"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/bots", bots, methods=["GET"]),
        Route("/webhooks", webhook_faults, methods=["GET", "POST"]),
        Route("/requests", requests, methods=["GET"]),
    ]
