"""The simulator counts the API requests it answers, per endpoint, for benches."""

from __future__ import annotations

import httpx

from meetstream_catalog.simulator.app import create_app
from meetstream_catalog.simulator.state import SimulatorConfig

AUTH = {"Authorization": "Token sim-demo-key"}


async def test_requests_are_counted_per_endpoint_and_reset() -> None:
    transport = httpx.ASGITransport(app=create_app(SimulatorConfig(speed=0.0)))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as c:
        body = {"meeting_link": "https://zoom.us/j/1000000001", "bot_name": "Counter"}
        created = await c.post("/api/v1/bots/create_bot", json=body, headers=AUTH)
        bot_id = created.json()["bot_id"]
        for _ in range(3):
            await c.get(f"/api/v1/bots/{bot_id}/status", headers=AUTH)
        await c.get(f"/api/v1/bots/{bot_id}/status")  # a 401 is still a request answered

        counted = (await c.get("/_simulator/requests")).json()
        assert counted == {
            "total": 5,
            "by_endpoint": {"create_bot": 1, "status": 4},
            "by_bot": {bot_id: {"status": 4}},
        }

        await c.post("/_simulator/reset")
        assert (await c.get("/_simulator/requests")).json() == {
            "total": 0,
            "by_endpoint": {},
            "by_bot": {},
        }
