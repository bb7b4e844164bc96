"""Webhook mode vs polling mode: API calls and worker process-seconds per meeting, the same
meetings in the same run (issue 12).

One stack on 127.0.0.1, each part its own process: a `prefect server` (SQLite), the
product's deployments (`prefect deploy --all`), one process worker, the webhook receiver
(`python -m meetstream_catalog.webhooks`) and the simulator sending signed webhooks to it.
The worker has a
receiver configured (`MEETSTREAM_WEBHOOK_URL`); the two phases differ only in the
`mode` parameter of their `capture-meeting` runs:

- polling (`mode=wait`): each run creates its bot, polls `status` until the bot leaves,
  archives and catalogues;
- webhook (`mode=webhook`): each run creates its bot, records it `in_progress` and ends;
  the receiver's `bot.done` event triggers a `collect-bot` run that archives and catalogues.

Per meeting, from the simulator's request counter (`GET /_simulator/requests`): API calls
(each run's preflight probe included) and the `status` calls about the meeting's own bot.
From the Prefect API: process-seconds held, the sum over the phase's flow runs of
(end - start) / N, i.e. how long a worker process existed for the meeting. From /proc: the
worker's CPU seconds (its flow-run processes included, once reaped) / N.

The simulator runs at 60x (MEETING_MINUTES meeting-minutes last MEETING_MINUTES real
seconds) and the worker polls at the product's default cadence scaled by the same 60x
(5 s -> 0.083 s, backoff cap 75 s -> 1.25 s), so status calls per meeting are what a
real meeting of that length costs; held seconds are real seconds of this run, in which a
meeting lasts MEETING_MINUTES seconds.

    .venv/bin/python -m bench.webhook_bench                # 10 meetings per mode
    .venv/bin/python -m bench.webhook_bench --meetings 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.fleet_bench import CLK_TCK, _calls, _env, _free_port, _process, _wait_for

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SPEED = 60.0
MEETING_MINUTES = 10
API_KEY = "sk_webhook_bench_0123456789"
SECRET = "whsec_webhook_bench_secret"  # noqa: S105 - the simulator's, local only
TOKEN_KEY = "tk_webhook_bench_token_key"  # noqa: S105 - the workers' and receiver's, local only
MODES = ("wait", "webhook")


@dataclass
class Phase:
    mode: str
    meetings: int
    calls: float  # API calls per meeting
    status: float  # status calls per meeting about its own bot (preflight probes excluded)
    held: float  # worker process-seconds held per meeting
    cpu: float  # worker CPU seconds per meeting (flow-run processes included)
    runs: int  # flow runs in the phase


def _links(mode: str, count: int) -> list[str]:
    return [f"https://zoom.us/j/77{MODES.index(mode)}{i:05d}" for i in range(count)]


def _scenario(path: Path, count: int) -> Path:
    script = {
        "duration": MEETING_MINUTES * 60,
        "join_delay": 5,
        "processing": {"audio_delay": 10, "video_delay": 20},
        "participants": [
            {"name": "Ana Souza", "speech": [[0, 200]], "camera": [[0, 600]]},
            {"name": "Ben Carter", "speech": [[200, 600]]},
        ],
    }
    links = [link for mode in MODES for link in _links(mode, count)]
    path.write_text(yaml.safe_dump({"meetings": dict.fromkeys(links, script)}))
    return path


def _worker_cpu(pid: int) -> float:
    """The worker's CPU seconds, its reaped children (the flow-run processes) included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / CLK_TCK


def _cli(argv: list[str], env: dict[str, str]) -> None:
    import subprocess

    done = subprocess.run(
        [str(BIN / "prefect"), *argv], env=env, cwd=PROJECT, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"prefect {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")


async def _runs_of(deployment: str, since: dt.datetime) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )

    async with get_client() as client:
        found = await client.read_deployment_by_name(deployment)
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
            ),
        )
    return list(runs)


async def _wait_final(ids: list[uuid.UUID], limit: float) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + limit
    async with get_client() as client:
        while True:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
            )
            if len(runs) == len(ids) and all(r.state and r.state.is_final() for r in runs):
                return list(runs)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids)} runs not final within {limit:.0f} s")
            await asyncio.sleep(1)


def _own_status_calls(admin: str, links: set[str]) -> int:
    """`status` calls about the bots of these meetings (not the preflight probes)."""
    bots = httpx.get(f"{admin}/bots", timeout=30).json()["bots"]
    ids = {b["bot_id"] for b in bots if b["meeting_url"] in links}
    by_bot = httpx.get(f"{admin}/requests", timeout=30).json()["by_bot"]
    return sum(by_bot.get(bot_id, {}).get("status", 0) for bot_id in ids)


async def _phase(mode: str, count: int, admin: str, worker: int) -> Phase:
    from prefect.deployments import arun_deployment

    from meetstream_catalog.request import MeetingRequest

    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    calls, cpu = _calls(admin), _worker_cpu(worker)
    submitted = [
        await arun_deployment(
            "capture-meeting/capture-meeting",
            parameters={
                "request": MeetingRequest(meeting_link=link, bot_name="Bench").model_dump(
                    mode="json"
                ),
                "mode": mode,
            },
            timeout=0,
        )
        for link in _links(mode, count)
    ]
    runs = await _wait_final([r.id for r in submitted], limit=900)
    if mode == "webhook":  # the receiver's events start one collect-bot run per bot
        deadline = time.monotonic() + 600
        while len(collected := await _runs_of("collect-bot/collect-bot", since)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(collected)} of {count} collect-bot runs started")
            await asyncio.sleep(1)
        runs += await _wait_final([r.id for r in collected], limit=900)
    failed = [f"{r.name}: {r.state.name}: {r.state.message}" for r in runs
              if not r.state.is_completed()]  # fmt: skip
    if failed:
        raise RuntimeError(f"{mode}: runs not completed: {failed}")
    after = _calls(admin)
    status = _own_status_calls(admin, set(_links(mode, count)))
    held = sum((r.end_time - r.start_time).total_seconds() for r in runs)
    return Phase(
        mode=mode,
        meetings=count,
        calls=(after["total"] - calls["total"]) / count,
        status=status / count,
        held=held / count,
        cpu=(_worker_cpu(worker) - cpu) / count,
        runs=len(runs),
    )


@dataclass(frozen=True)
class Stack:
    """The running stack: the simulator's admin URL, the worker's and the receiver's PIDs,
    the receiver's URL."""

    admin: str
    worker: int
    receiver: int
    receiver_url: str


@contextlib.contextmanager
def stack(
    tmp: Path, scenario: Path, deployments: tuple[str, ...], *, signed: bool = True
) -> Iterator[Stack]:
    """Server, simulator, deployments, receiver and worker, each its own process on
    127.0.0.1. `signed`: the simulator signs its webhooks; else they get in by the token
    of their callback URL alone (both keys are the receiver's, as docs/deploy.md says)."""
    env = _env(tmp)
    api_port, sim_port, hook_port = _free_port(), _free_port(), _free_port()
    api_url = f"http://127.0.0.1:{api_port}/api"
    sim = f"http://127.0.0.1:{sim_port}"
    hook = f"http://127.0.0.1:{hook_port}"
    client = {**env, "PREFECT_API_URL": api_url}
    server = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
              "--port", str(api_port)]  # fmt: skip
    simulator = [sys.executable, "-m", "meetstream_catalog.simulator", "--port",
                 str(sim_port), "--api-key", API_KEY, "--speed", str(SPEED), "--scenario",
                 str(scenario), "--webhook-secret", SECRET if signed else "",
                 "--speech-bytes-per-second", "200", "--video-bytes-per-second", "200",
                 "--wav-sample-rate", "400"]  # fmt: skip
    receiver = [sys.executable, "-m", "meetstream_catalog.webhooks", "--port", str(hook_port)]
    worker = [str(BIN / "prefect"), "worker", "start", "--pool", "meetstream", "--type",
              "process", "--limit", "50"]  # fmt: skip
    meetstream = {
        "MEETSTREAM_API_URL": f"{sim}/api/v1",
        "MEETSTREAM_API_KEY": API_KEY,
        "MEETSTREAM_CATALOG_ROOT": str(tmp / "catalog"),
        "MEETSTREAM_MEDIA_ROOT": str(tmp / "media"),
        "MEETSTREAM_WEBHOOK_URL": f"{hook}/webhooks/meetstream",
        "MEETSTREAM_WEBHOOK_TOKEN_KEY": TOKEN_KEY,
        "MEETSTREAM_POLL_INTERVAL_SECONDS": f"{5 / SPEED:.3f}",
        "MEETSTREAM_POLL_MAX_INTERVAL_SECONDS": f"{75 / SPEED:.3f}",
    }
    worker_env = {**client, **meetstream, "PREFECT_WORKER_QUERY_SECONDS": "1",
                  "PREFECT_WORKER_PREFETCH_SECONDS": "1"}  # fmt: skip
    receiver_env = {**client, "MEETSTREAM_WEBHOOK_SECRET": SECRET,
                    "MEETSTREAM_WEBHOOK_TOKEN_KEY": TOKEN_KEY,
                    "MEETSTREAM_CATALOG_ROOT": str(tmp / "catalog")}  # fmt: skip
    with contextlib.ExitStack() as stack:
        stack.enter_context(_process(server, env, tmp / "server.log"))
        stack.enter_context(_process(simulator, env, tmp / "simulator.log"))
        _wait_for(f"{api_url}/health", 180, tmp / "server.log")
        _wait_for(f"{sim}/_simulator/requests", 60, tmp / "simulator.log")
        template = str(PROJECT / "work-pool.json")  # docs/deploy.md's pool
        _cli(["work-pool", "create", "meetstream", "--type", "process",
              "--base-job-template", template], client)  # fmt: skip
        # Only the deployments measured: the scheduled ones would add their runs' CPU.
        deploy = ["--no-prompt", "deploy", *(f"--name={name}" for name in deployments)]
        _cli(deploy, {**client, "MEETSTREAM_PROJECT_DIR": str(PROJECT)})
        hook_pid = stack.enter_context(_process(receiver, receiver_env, tmp / "receiver.log"))
        _wait_for(f"{hook}/health", 60, tmp / "receiver.log")
        pid = stack.enter_context(_process(worker, worker_env, tmp / "worker.log"))
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield Stack(f"{sim}/_simulator", pid, hook_pid, f"{hook}/webhooks/meetstream")


def bench(count: int) -> list[Phase]:
    """Both phases; the stack's logs are deleted on success, kept (and named) on failure."""
    tmp = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    try:
        scenario = _scenario(tmp / "scenario.yaml", count)
        with stack(tmp, scenario, ("capture-meeting", "collect-bot")) as running:
            phases = [
                asyncio.run(_phase(mode, count, running.admin, running.worker)) for mode in MODES
            ]
    except BaseException:
        print(f"logs kept in {tmp}", file=sys.stderr, flush=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return phases


def report(phases: list[Phase]) -> None:
    wait, hook = phases
    print(f"{MEETING_MINUTES}-minute meetings at {SPEED:.0f}x, {wait.meetings} per mode")
    print(f"{'mode':>8} {'runs':>5} {'calls/mtg':>9} {'status/mtg':>10} {'held s/mtg':>10}"
          f" {'worker CPU s/mtg':>16}")  # fmt: skip
    for p in phases:
        print(f"{p.mode:>8} {p.runs:>5} {p.calls:>9.1f} {p.status:>10.1f} {p.held:>10.2f}"
              f" {p.cpu:>16.2f}")  # fmt: skip
    print(
        f"webhook / polling: API calls {hook.calls / wait.calls:.2f}x, status calls "
        f"{hook.status:.0f} vs {wait.status:.0f}, process-seconds held "
        f"{hook.held / wait.held:.2f}x, worker CPU {hook.cpu / wait.cpu:.2f}x",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--meetings", type=int, default=10, help="meetings per mode")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    report(bench(args.meetings))


if __name__ == "__main__":
    main()
