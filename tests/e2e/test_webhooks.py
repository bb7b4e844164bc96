"""Webhook mode end to end: no worker waits through a meeting, and lost webhooks are found.

A real Prefect server and process worker (tests/e2e/conftest.py), the product's webhook
receiver as its own process, and the simulator sending webhooks with 25% of them dropped,
unsigned (as MeetStream may send per-bot callbacks): they get in by the token the workers
put in each bot's callback URL. One run of `capture-scheduled` creates 20 bots in webhook
mode, each asked for a transcript, and ends; the receiver's events trigger `collect-bot`
runs, which catalogue media and transcripts; `collect-pending` (run
here by hand: its schedule is every 15 minutes) collects the bots whose terminal webhook
was lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import arun_deployment

from meetstream_catalog.catalog import read_table

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True, scope="module")
def _collect_prefect_leftovers() -> Iterator[None]:
    """Finalize Prefect's leftover client connections here, under this module's warning
    filter, rather than in whichever later test the garbage collector happens to run in."""
    yield
    gc.collect()


SECRET = "whsec_e2e_receiver_secret"  # the stack's simulator and receiver share it


def _admin(stack: Stack, path: str) -> str:
    return stack.simulator_url.removesuffix("/api/v1") + f"/_simulator/{path}"


def _status_calls(stack: Stack, bot_ids: set[str]) -> int:
    """`status` calls about these bots (other tests' scheduled runs share the simulator)."""
    by_bot: dict[str, dict[str, int]] = httpx.get(_admin(stack, "requests")).json()["by_bot"]
    return sum(by_bot.get(bot_id, {}).get("status", 0) for bot_id in bot_ids)


def _bots(stack: Stack, links: set[str]) -> list[dict[str, Any]]:
    every: list[dict[str, Any]] = httpx.get(_admin(stack, "bots")).json()["bots"]
    return [b for b in every if b["meeting_url"] in links]


def _catalogued(stack: Stack, links: set[str]) -> pd.DataFrame:
    bots = read_table("bots", str(stack.catalog_root))
    return bots[bots.meeting_link_redacted.isin(links)]


async def _finished(run: FlowRun) -> FlowRun:
    async with get_client() as client:
        while True:
            current = await client.read_flow_run(run.id)
            if current.state is not None and current.state.is_final():
                return current
            await asyncio.sleep(1)


async def test_webhook_mode_captures_every_meeting_without_polling_and_recovers_lost_webhooks(
    stack: Stack,
) -> None:
    from tests.e2e.conftest import WEBHOOK_MEETINGS

    links = set(WEBHOOK_MEETINGS)
    httpx.post(_admin(stack, "webhooks"), json={"drop": 0.25, "seed": 3}).raise_for_status()
    join_at = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)).isoformat()
    listed = stack.work_dir / "webhook-meetings.csv"
    pd.DataFrame(
        [{"meeting_link": link, "join_at": join_at, "bot_name": "Hooked"} for link in links]
    ).to_csv(listed, index=False)

    async with get_client() as client:
        batch = await arun_deployment(
            "capture-scheduled/capture-scheduled",
            client=client,
            parameters={"meetings_url": str(listed)},
            # The receiver's public URL is an operator setting of the worker: the webhook
            # queue's worker has it, so the other tests' runs keep polling.
            work_queue_name="webhooks",
            timeout=300,
        )
    assert isinstance(batch, FlowRun)
    assert batch.state is not None
    assert batch.state.is_completed(), stack.tail()
    assert len(_bots(stack, links)) == 20
    assert set(_catalogued(stack, links).outcome) == {"in_progress"}  # the run did not wait

    # Every meeting ends and is processed (1 meeting-minute each at 60x).
    deadline = time.monotonic() + 120
    while any(b["status"] != "Done" for b in _bots(stack, links)):
        assert time.monotonic() < deadline, "meetings did not end"
        await asyncio.sleep(1)
    polled_during_meetings = _status_calls(stack, {b["bot_id"] for b in _bots(stack, links)})
    delivery = httpx.get(_admin(stack, "bots")).json()["webhooks"]

    # The receiver's events start collect-bot runs. MeetStream resends nothing, so the
    # scheduled reconciliation finds the bots whose terminal webhook was dropped (and may
    # meet a triggered run still working on its bot: both are idempotent).
    async with get_client() as client:
        await asyncio.sleep(10)  # let the automations start the triggered runs
        reconcile = await arun_deployment(
            "collect-pending/collect-pending", client=client, timeout=0
        )
        reconciled = await asyncio.wait_for(_finished(reconcile), timeout=300)
        collect = await client.read_deployment_by_name("collect-bot/collect-bot")
        triggered = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[collect.id]))
        )
    assert reconciled.state is not None
    assert reconciled.state.is_completed(), stack.tail()

    deadline = time.monotonic() + 300
    while (_catalogued(stack, links).outcome == "captured").sum() < 20:
        assert time.monotonic() < deadline, _catalogued(stack, links)[["bot_id", "outcome"]]
        await asyncio.sleep(2)
    final = _catalogued(stack, links)
    assert len(final) == 20
    assert final.bot_id.is_unique
    assert polled_during_meetings == 0  # no worker polled status while the meetings ran
    assert delivery["dropped"] > 0  # webhooks were lost, yet every meeting landed
    assert 0 < len(triggered) < 20  # the receiver's events triggered collections
    # Transcripts on (the webhook worker's setting): `bot.done` follows
    # `transcription.processed`, so each collection found its transcript ready.
    assert set(final.transcript) == {"available"}, final[["bot_id", "transcript"]]
    said = read_table("utterances", str(stack.catalog_root), columns=["bot_id", "attribution"])
    said = said[said.bot_id.isin(set(final.bot_id))]
    assert said.groupby("bot_id").size().reindex(final.bot_id).fillna(0).min() > 0
    assert set(said.attribution) == {"track"}  # Zoom: each speaker has their own audio
    print(
        f"\nwebhook mode: 20 meetings, {delivery['dropped']} webhooks dropped, "
        f"{len(triggered)} collect-bot runs triggered by events, the rest reconciled"
    )


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"X-MeetStream-Signature": "sha256=" + "0" * 64}, None, 401),  # forged
        (None, None, 401),  # unsigned
        ("replayed", None, 401),  # signed, but an hour old
        ("signed", b'{"event": "bot.done", "bot_id": "x", "pad": "' + b"x" * 70_000 + b'"}', 413),
    ],
)
def test_hostile_requests_are_refused_by_the_receiver(
    stack: Stack, headers: Any, body: bytes | None, status: int
) -> None:
    raw = body or json.dumps({"event": "bot.done", "bot_id": "forged-bot"}).encode()
    sent = {"Content-Type": "application/json"}
    if headers in ("signed", "replayed"):
        sent["X-MeetStream-Signature"] = _sign(raw)
        old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        sent["X-MeetStream-Timestamp"] = (
            old if headers == "replayed" else dt.datetime.now(dt.UTC)
        ).isoformat()
    elif headers:
        sent.update(headers)

    response = httpx.post(stack.receiver_url, content=raw, headers=sent, timeout=10)

    assert response.status_code == status
    assert SECRET not in response.text
