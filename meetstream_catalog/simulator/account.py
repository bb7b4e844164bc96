"""The account's bot lists: `GET /bots` and `GET /calendar/scheduled_bots`, paged.

Every bot of the account is listed, whoever created it (this product, the scenario's
`account_bots`, a test calling create_bot directly), in creation order, `page_size` a page
(`SimulatorConfig.page_size`). The scheduled list is the bots whose join time has not come
yet (status `Scheduled`), so it always agrees with `/bots` and `/status`. Shapes (inferred,
docs/meetstream-api.md section 11): `{"bots" | "scheduled_bots": [...], "hasNextPage",
"nextCursor"}`; the next page is `?cursor=<nextCursor>`, an opaque offset here.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from meetstream_catalog.simulator import manifests
from meetstream_catalog.simulator.faults import FaultRule
from meetstream_catalog.simulator.meeting import Bot
from meetstream_catalog.simulator.state import ApiError, SimulatorState

__all__ = ["list_bots", "list_scheduled_bots"]


async def list_bots(
    request: Request, state: SimulatorState, _: FaultRule | None
) -> manifests.Answer:
    """`GET /bots?cursor=`: one page of every bot of the account."""
    with state.lock:
        bots = list(state.bots.values())
    return _page(request, state, [b for b in bots if b.deleted is None], "bots")


async def list_scheduled_bots(
    request: Request, state: SimulatorState, _: FaultRule | None
) -> manifests.Answer:
    """`GET /calendar/scheduled_bots?cursor=`: the bots still waiting for their join time."""
    with state.lock:
        bots = list(state.bots.values())
    waiting = [b for b in bots if b.deleted is None and state.bot_time(b) < 0]
    return _page(request, state, waiting, "scheduled_bots")


def _page(request: Request, state: SimulatorState, bots: list[Bot], name: str) -> manifests.Answer:
    cursor = request.query_params.get("cursor") or "0"
    if not cursor.isdigit():
        raise ApiError(400, "Invalid cursor.")
    start, size = int(cursor), max(1, state.config.page_size)
    page = bots[start : start + size]
    more = start + size < len(bots)
    return 200, {
        name: [_item(state, bot) for bot in page],
        "hasNextPage": more,
        "nextCursor": str(start + size) if more else None,
    }


def _item(state: SimulatorState, bot: Bot) -> dict[str, Any]:
    item = {
        "bot_id": bot.bot_id,
        "status": bot.timeline().status_at(state.bot_time(bot)),
        "bot_name": bot.bot_name,
        "meeting_url": bot.link,
        "created_at": state.iso(min(bot.created_at, state.clock.now())),
        "custom_attributes": bot.custom_attributes,
    }
    if state.bot_time(bot) < 0:
        item["scheduled_join_time"] = state.iso(bot.created_at)
    return item
