"""The webhook receiver under a flood (issue 24): hostile traffic mixed with the genuine
deliveries of real meetings, bounded in count and time, all on 127.0.0.1.

The stack of `bench.webhook_bench` (Prefect server, the `capture-meetings` and
`collect-bot` deployments with the `collect-bot` trigger, one process worker, the receiver
started as docs/deploy.md says, the simulator), with the simulator sending its webhooks
UNSIGNED, so genuine deliveries get in by their callback URL's token alone. One
`capture-meetings` run creates MEETINGS bots in webhook mode and ends; then, while their
meetings run and end (30 s at 60x), CONNECTIONS clients post a fixed mix of hostile
requests for at most FLOOD_SECONDS or FLOOD_REQUESTS, whichever comes first:

- forged: a made-up signature on an invented bot's `bot.done`;
- unsigned: no signature and no token;
- bad token: a made-up token for a made-up request key;
- stale: correctly signed (the bench holds the signing secret, as a replay would carry a
  real signature) but an hour old;
- oversized: 70 KB;
- malformed: not a webhook (and unauthenticated: refused before it is parsed);
- unknown bot: a VALID token (the bench holds the token key, as after a key leak) for an
  invented request and bot: it gets in, and must still start nothing.

Counted truthfully: flow runs from the Prefect API (every `collect-bot` run since the
start, and the bot each was for), the catalog's `bots` rows, and the receiver's `/health`
counters. Timed at the client: each request's latency; throughput per second of the flood
(its peak second reported) and p99 over the flood. The receiver's RSS from /proc, before
the flood and after it. The client shares the machine's cores with the receiver, the
Prefect server, the worker and its flow runs: read the figures as a floor.

    .venv/bin/python -m bench.webhook_load                    # ~3 min on 2 cores
    .venv/bin/python -m bench.webhook_load --flood-seconds 20 --connections 32
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.webhook_bench import SECRET, TOKEN_KEY, Stack, _runs_of, _wait_final, stack
from meetstream_catalog.webhooks.auth import make_token

MEETINGS = 20
MEETING_SECONDS = 1800  # meeting-seconds: 30 s at 60x, so the meetings end inside the flood
KINDS = ("forged", "unsigned", "bad_token", "stale", "oversized", "malformed", "unknown_bot")
# Others 401: a body is read (413 past the limit) before anything else, but parsed only
# once authentic, so an unauthenticated malformed body is a 401 too.
EXPECTED_STATUS = {"oversized": 413, "unknown_bot": 200}


@dataclass
class Flood:
    sent: Counter[str] = field(default_factory=Counter)
    wrong_status: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # of each latency
    finished_at: list[float] = field(default_factory=list)  # monotonic, per response
    seconds: float = 0.0


def _links() -> list[str]:
    return [f"https://zoom.us/j/88{i:05d}" for i in range(MEETINGS)]


def _scenario(path: Path) -> Path:
    script = {
        "duration": MEETING_SECONDS,
        "join_delay": 5,
        "processing": {"audio_delay": 10, "video_delay": 20},
        "participants": [
            {"name": "Ana Souza", "speech": [[0, 900]], "camera": [[0, 1800]]},
            {"name": "Ben Carter", "speech": [[900, 1800]]},
        ],
    }
    path.write_text(yaml.safe_dump({"meetings": dict.fromkeys(_links(), script)}))
    return path


def _request(kind: str, n: int) -> dict[str, Any]:
    """The arguments of hostile request number `n` of `kind`."""
    now = dt.datetime.now(dt.UTC)
    bot = f"forged-{uuid.uuid4()}"
    body = json.dumps({"event": "bot.done", "bot_id": bot, "bot_status": "Done",
                       "timestamp": now.isoformat()}).encode()  # fmt: skip
    headers = {"Content-Type": "application/json"}
    params: dict[str, str] = {}
    if kind == "forged":
        headers["X-MeetStream-Signature"] = "sha256=" + "0" * 64
    elif kind == "bad_token":
        params = {"request": f"key-{n}", "token": uuid.uuid4().hex * 2}
    elif kind == "stale":
        headers["X-MeetStream-Signature"] = (
            "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        )
        headers["X-MeetStream-Timestamp"] = (now - dt.timedelta(hours=1)).isoformat()
    elif kind == "oversized":
        body = body[:-1] + b', "pad": "' + b"x" * 70_000 + b'"}'
    elif kind == "malformed":
        body = b"[1, 2, 3]"
    elif kind == "unknown_bot":
        key = f"leaked-{n}"
        params = {"request": key, "token": make_token(TOKEN_KEY, key)}
    return {"content": body, "headers": headers, "params": params}


async def _flood(url: str, connections: int, limit_seconds: float, limit_requests: int) -> Flood:
    flood = Flood()
    numbers = iter(range(limit_requests))
    deadline = time.monotonic() + limit_seconds

    async def client(http: httpx.AsyncClient) -> None:
        for n in numbers:
            if time.monotonic() > deadline:
                return
            kind = KINDS[n % len(KINDS)]
            start = time.monotonic()
            try:
                response = await http.post(url, **_request(kind, n))
            except httpx.HTTPError:
                flood.errors += 1
                continue
            end = time.monotonic()
            flood.sent[kind] += 1
            flood.latencies.append(end - start)
            flood.kinds.append(kind)
            flood.finished_at.append(end)
            if response.status_code != EXPECTED_STATUS.get(kind, 401):
                flood.wrong_status[f"{kind}:{response.status_code}"] += 1

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    started = time.monotonic()
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as http:
        await asyncio.gather(*(client(http) for _ in range(connections)))
    flood.seconds = time.monotonic() - started
    return flood


async def _health(receiver_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.get(receiver_url.replace("/webhooks/meetstream", "/health"))
    health: dict[str, Any] = answer.json()
    return health


def _rss_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of `pid`, in KiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


def _cpu_seconds(pid: int) -> float:
    from bench.fleet_bench import CLK_TCK

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def _run(running: Stack, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    from prefect.deployments import arun_deployment

    from meetstream_catalog.catalog import read_table
    from meetstream_catalog.request import MeetingRequest

    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    rss_before = _rss_kib(running.receiver)
    requests = [MeetingRequest(meeting_link=link, bot_name="Load").model_dump(mode="json")
                for link in _links()]  # fmt: skip
    capture = await arun_deployment(
        "capture-meetings/capture-meetings",
        parameters={"requests": requests, "mode": "webhook"},
        timeout=0,
    )
    [created] = await _wait_final([capture.id], limit=300)  # the bots are in their meetings
    if created.state is None or not created.state.is_completed():
        raise RuntimeError(f"capture-meetings: {created.state}")
    cpu_before = _cpu_seconds(running.receiver)
    flood = await _flood(
        running.receiver_url, args.connections, args.flood_seconds, args.flood_requests
    )
    cpu_flood = _cpu_seconds(running.receiver) - cpu_before
    rss_after_flood = _rss_kib(running.receiver)

    # Every meeting's terminal event starts one collect-bot run; wait for them to finish.
    deadline = time.monotonic() + args.collect_seconds
    while len(runs := await _runs_of("collect-bot/collect-bot", since)) < MEETINGS:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    runs = await _wait_final([r.id for r in runs], limit=600) if runs else []
    await asyncio.sleep(5)  # a late, unexpected run would show up here
    runs = await _runs_of("collect-bot/collect-bot", since)
    bots = read_table("bots", str(tmp / "catalog"))
    genuine = set(bots.bot_id)
    per_bot = Counter(str(r.parameters.get("bot_id")) for r in runs)
    return {
        "flood": flood,
        "cpu_flood": cpu_flood,
        "rss_before": rss_before,
        "rss_after_flood": rss_after_flood,
        "rss_after": _rss_kib(running.receiver),
        "health": await _health(running.receiver_url),
        "bots": len(bots),
        "captured": int((bots.outcome == "captured").sum()),
        "collect_runs": len(runs),
        "runs_per_genuine_bot": Counter(per_bot[b] for b in genuine),
        "forged_runs": sum(n for bot, n in per_bot.items() if bot not in genuine),
        "failed_runs": [
            f"{r.name}: {r.state.name}"
            for r in runs
            if r.state is None or not r.state.is_completed()
        ],
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    flood: Flood = result["flood"]
    total = sum(flood.sent.values())
    start = min(flood.finished_at, default=0.0)
    per_second = Counter(int(t - start) for t in flood.finished_at)
    peak_second, peak = max(per_second.items(), key=lambda kv: kv[1], default=(0, 0))
    in_peak = [lat for lat, t in zip(flood.latencies, flood.finished_at, strict=True)
               if int(t - start) == peak_second]  # fmt: skip
    health = result["health"]
    mib = 1024
    print(f"flood: {total} hostile requests in {flood.seconds:.1f} s over {args.connections} "
          f"connections, {flood.errors} client errors; mix {dict(flood.sent)}")  # fmt: skip
    print(f"  unexpected statuses: {dict(flood.wrong_status) or 'none'}")
    print(f"  throughput: {total / flood.seconds:.0f} req/s mean, {peak} req/s at the peak second")
    print(f"  latency: p50 {_percentile(flood.latencies, 0.5) * 1000:.1f} ms, p99 "
          f"{_percentile(flood.latencies, 0.99) * 1000:.1f} ms over the flood; p99 "
          f"{_percentile(in_peak, 0.99) * 1000:.1f} ms in the peak second")  # fmt: skip
    of_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for latency, kind in zip(flood.latencies, flood.kinds, strict=True):
        of_kind[kind].append(latency)
    by_kind = {kind: round(_percentile(v, 0.99) * 1000) for kind, v in of_kind.items()}
    print(f"  p99 by kind (ms): {by_kind}")
    print(f"  receiver CPU: {result['cpu_flood']:.1f} s during the flood "
          f"({result['cpu_flood'] / max(total, 1) * 1e6:.0f} us per request)")  # fmt: skip
    print(f"  receiver RSS: {result['rss_before']['VmRSS'] / mib:.1f} MiB before, "
          f"{result['rss_after_flood']['VmRSS'] / mib:.1f} MiB after the flood, "
          f"{result['rss_after']['VmRSS'] / mib:.1f} MiB at the end "
          f"(peak {result['rss_after']['VmHWM'] / mib:.1f} MiB)")  # fmt: skip
    print(f"meetings: {result['bots']} bots, {result['captured']} captured; collect-bot runs "
          f"{result['collect_runs']}, per genuine bot {dict(result['runs_per_genuine_bot'])}, "
          f"from forged traffic {result['forged_runs']}, not completed "
          f"{result['failed_runs'] or 'none'}")  # fmt: skip
    counters = {k: health[k] for k in ("accepted", "duplicate", "unknown_bot",
                "unknown_bot_not_recorded", "triggered", "rejected", "catalog_reads")}  # fmt: skip
    print(f"receiver /health: {counters}, by reason {health['rejected_by_reason']}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--connections", type=int, default=64, help="concurrent clients")
    parser.add_argument("--flood-seconds", type=float, default=40.0, help="flood at most this")
    parser.add_argument("--flood-requests", type=int, default=60_000, help="...or this many")
    parser.add_argument("--collect-seconds", type=float, default=240.0,
                        help="wait at most this for the collect-bot runs")  # fmt: skip
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    tmp = Path(tempfile.mkdtemp(prefix="webhook-load-"))
    try:
        scenario = _scenario(tmp / "scenario.yaml")
        deployments = ("capture-meetings", "collect-bot")
        with stack(tmp, scenario, deployments, signed=False) as running:
            result = asyncio.run(_run(running, tmp, args))
    except BaseException:
        print(f"logs kept in {tmp}", file=sys.stderr, flush=True)
        raise
    report(result, args)
    ok = (result["forged_runs"] == 0 and result["captured"] == MEETINGS
          and result["runs_per_genuine_bot"] == Counter({1: MEETINGS}))  # fmt: skip
    if not ok:
        print(f"NOT as expected; logs kept in {tmp}", file=sys.stderr, flush=True)
        sys.exit(1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
