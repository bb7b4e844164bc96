"""Scale-out, proven: a Prefect server on PostgreSQL, process workers on one pool, the
catalog and media on S3 (a serial moto server), meetings fanned out as deployment runs.

One worker takes the first batch, then a second worker joins for the second batch, and the
test prints each batch's throughput. Every meeting must end catalogued exactly once (one
`bots` row, outcome `captured`), and no run may wait on a lock: the server holds no
concurrency limit and no run ever enters a waiting state.

Sizing on 2 cores: a flow run in its own process costs ~3 s of CPU to start. CI runs two
batches of SCALE_MEETINGS = 30 (~4 minutes); the full size, two batches of 100 (~11
minutes), is `SCALE_MEETINGS=100 make e2e`, and docs/benchmarks.md (Scale-out) records its
figures. SCALE_WORKER_LIMIT runs at once per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import (
    API_KEY,
    BIN,
    PROJECT,
    Processes,
    _base_env,
    _cli,
    _wait_healthy,
    free_port,
)
from tests.e2e.postgres import bindir, postgres_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.scale,
    pytest.mark.skipif(bindir() is None, reason="needs PostgreSQL: apt-get install postgresql"),
    # Prefect's client (3.9.1) leaves a pooled keep-alive connection to the API unclosed
    # when arun_deployment returns; it is Prefect's socket, not one the test opened.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True, scope="module")
def _collect_prefect_leftovers() -> Iterator[None]:
    """Finalize Prefect's leftover client connections here, under this module's warning
    filter, rather than in whichever later test the garbage collector happens to run in."""
    yield
    gc.collect()


BATCH = int(os.environ.get("SCALE_MEETINGS", "30"))  # meetings per batch (two batches)
PER_RUN = int(os.environ.get("SCALE_MEETINGS_PER_RUN", "10"))  # meetings per fanned-out run
WORKER_LIMIT = int(os.environ.get("SCALE_WORKER_LIMIT", "6"))  # flow runs at once per worker
BUCKET = "scale-out"
SCHEDULED = "capture-scheduled/capture-scheduled"
WAITING = {"AwaitingConcurrencySlot", "AwaitingRetry", "Paused", "Suspended"}


def _links(batch: int) -> list[str]:
    return [f"https://meet.google.com/scale-{batch}-{i:03d}" for i in range(BATCH)]


def _scenario(path: Path) -> Path:
    """Short meetings (1 meeting-minute at 60x, media ready 3 s later), two people."""
    script = {
        "duration": 60,
        "join_delay": 1,
        "processing": {"audio_delay": 1, "video_delay": 2},
        "participants": [
            {"name": "Ana Souza", "speech": [[0, 30]], "camera": [[0, 60]]},
            {"name": "Ben Carter", "speech": [[30, 60]]},
        ],
    }
    links = [*_links(0), *_links(1)]
    path.write_text(yaml.safe_dump({"meetings": dict.fromkeys(links, script)}))
    return path


@dataclass
class Fleet:
    api_url: str
    worker_env: dict[str, str]
    procs: Processes
    logs: Path
    endpoint: str

    def add_worker(self, name: str) -> None:
        argv = [str(BIN / "prefect"), "worker", "start", "--pool", "meetstream", "--type",
                "process", "--limit", str(WORKER_LIMIT), "--name", name]  # fmt: skip
        self.procs.start(name, argv, self.worker_env, self.logs / f"{name}.log")

    def tail(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-2500:]}"
            for p in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    tmp = tmp_path_factory.mktemp("scale")
    procs = Processes()
    with postgres_server() as database:
        try:
            moto_port, api_port, sim_port = free_port(), free_port(), free_port()
            endpoint = f"http://127.0.0.1:{moto_port}"
            api_url = f"http://127.0.0.1:{api_port}/api"
            sim_url = f"http://127.0.0.1:{sim_port}/api/v1"
            env = _base_env(tmp / "home", api_url)
            moto = [
                sys.executable,
                str(PROJECT / "tests/integration/serial_moto.py"),
                str(moto_port),
            ]
            procs.start("moto", moto, env, tmp / "moto.log")
            server_env = {**env, "PREFECT_API_DATABASE_CONNECTION_URL": database,
                          "PREFECT_UI_ENABLED": "false"}  # fmt: skip
            server_env.pop("PREFECT_API_URL")
            server = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                      "--port", str(api_port)]  # fmt: skip
            procs.start("server", server, server_env, tmp / "server.log")
            simulator = [sys.executable, "-m", "meetstream_catalog.simulator",
                         "--port", str(sim_port), "--api-key", API_KEY, "--speed", "60",
                         "--scenario", str(_scenario(tmp / "scenario.yaml")),
                         "--speech-bytes-per-second",
                         "200", "--video-bytes-per-second", "200",
                         "--wav-sample-rate", "400"]  # fmt: skip
            procs.start("simulator", simulator, env, tmp / "simulator.log")
            fleet = Fleet(api_url, {}, procs, tmp, endpoint)
            for (_, process), url in zip(
                procs.started,
                (f"{endpoint}/moto-api/", f"{api_url}/health", f"{sim_url}/bot"),
                strict=True,
            ):
                _wait_healthy(url, process, 120, fleet.tail())
            aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}  # fmt: skip
            httpx.put(f"{endpoint}/{BUCKET}", timeout=10).raise_for_status()
            template = str(PROJECT / "work-pool.json")  # docs/deploy.md's pool
            _cli(["work-pool", "create", "meetstream", "--type", "process",
                  "--base-job-template", template], env)  # fmt: skip
            _cli(
                ["--no-prompt", "deploy", "--all"], {**env, "MEETSTREAM_PROJECT_DIR": str(PROJECT)}
            )
            fleet.worker_env = {
                **env,
                **aws,
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PREFECT_WORKER_PREFETCH_SECONDS": "1",
                "PREFECT_LOGGING_LEVEL": "WARNING",
                "MEETSTREAM_API_URL": sim_url,
                "MEETSTREAM_API_KEY": API_KEY,
                "MEETSTREAM_CATALOG_ROOT": f"s3://{BUCKET}/catalog",
                "MEETSTREAM_MEDIA_ROOT": f"s3://{BUCKET}/media",
                "MEETSTREAM_S3_ENDPOINT_URL": endpoint,
                "MEETSTREAM_POLL_INTERVAL_SECONDS": "0.2",
                "MEETSTREAM_POLL_MAX_INTERVAL_SECONDS": "0.5",
                "MEETSTREAM_PROCESSING_TIMEOUT_SECONDS": "120",
            }
            with temporary_settings(updates={PREFECT_API_URL: api_url}):
                yield fleet
        finally:
            procs.stop_all()


async def _fan_out(fleet: Fleet, batch: int) -> list[uuid.UUID]:
    """The user's fan-out: a run of `capture-scheduled` over a meeting list, with
    `fan_out` and `meetings_per_run`, submits the `capture-meetings` runs; their ids."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.deployments import arun_deployment

    listed = fleet.logs / f"meetings-{batch}.csv"
    join_at = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()
    listed.write_text(
        "meeting_link,join_at,bot_name\n"
        + "".join(f"{link},{join_at},Scale Recorder\n" for link in _links(batch))
    )
    parameters = {"meetings_url": str(listed), "fan_out": True, "meetings_per_run": PER_RUN}
    parent = await arun_deployment(SCHEDULED, parameters=parameters, timeout=0)
    [done] = await _wait_all([parent.id], limit_seconds=300)
    assert done.state.is_completed(), f"{done.state}\n{fleet.tail()}"
    async with get_client() as client:
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])
            )
        )
    assert len(children) == -(-BATCH // PER_RUN), [c.name for c in children]
    return [run.id for run in children]


async def _wait_all(ids: list[uuid.UUID], limit_seconds: float) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + limit_seconds
    async with get_client() as client:
        while True:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
            )
            if len(runs) == len(ids) and all(r.state and r.state.is_final() for r in runs):
                return list(runs)
            if time.monotonic() > deadline:
                states = sorted({r.state.name for r in runs if r.state})
                raise TimeoutError(f"runs unfinished after {limit_seconds:.0f} s: {states}")
            await asyncio.sleep(1)


async def _waited_states(ids: list[uuid.UUID]) -> set[str]:
    from prefect.client.orchestration import get_client

    names: set[str] = set()
    async with get_client() as client:
        for run_id in ids:
            names |= {s.name for s in await client.read_flow_run_states(run_id)}
    return names & WAITING


async def _batch(fleet: Fleet, batch: int) -> float:
    """Fan out one batch, wait for every run; returns meetings per minute."""
    start = time.monotonic()
    ids = await _fan_out(fleet, batch)
    try:
        runs = await _wait_all(ids, limit_seconds=600)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{fleet.tail()}") from None
    elapsed = time.monotonic() - start
    failed = [f"{r.name}: {r.state.name}" for r in runs if not r.state.is_completed()]
    assert not failed, f"{failed}\n{fleet.tail()}"
    assert not await _waited_states(ids)
    queued = statistics.median((r.start_time - r.expected_start_time).total_seconds() for r in runs)
    running = statistics.median((r.end_time - r.start_time).total_seconds() for r in runs)
    print(
        f"\nbatch {batch}: {BATCH} meetings in {len(ids)} runs, {elapsed:.0f} s; median run "
        f"{running:.1f} s, median wait for a worker slot {queued:.1f} s",
        flush=True,
    )
    return BATCH / elapsed * 60


_ACCESS = re.compile(r'"([A-Z]+) (/[^ ]*) HTTP/[0-9.]+" ')


def _s3_requests(fleet: Fleet) -> Counter[str]:
    """The S3 requests moto served so far, by kind, from its access log (one line each)."""
    kinds: Counter[str] = Counter()
    for method, target in _ACCESS.findall((fleet.logs / "moto.log").read_text(errors="replace")):
        path, _, query = target.partition("?")
        if "list-type" in query or (method == "GET" and path.rstrip("/") == f"/{BUCKET}"):
            kinds["list"] += 1
        elif "/_delta_log/" in path:
            kinds[f"log {method}"] += 1
        elif path.startswith(f"/{BUCKET}/catalog/"):
            kinds[f"table {method}"] += 1
        elif path.startswith(f"/{BUCKET}/media/"):
            kinds[f"media {method}"] += 1
        else:
            kinds[f"other {method}"] += 1
    return kinds


def _cpu(fleet: Fleet) -> dict[str, float]:
    """CPU seconds so far of each process of the fleet (workers include the flow-run
    processes they reaped), of the PostgreSQL cluster, and of this test process."""
    tick = os.sysconf("SC_CLK_TCK")

    def seconds(pid: int | str) -> float:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
        return 0.0

    spent = {name: seconds(process.pid) for name, process in fleet.procs.started}
    spent["workers"] = sum(spent.pop(n) for n in list(spent) if n.startswith("worker"))

    def command(comm: Path) -> str:
        with contextlib.suppress(OSError):
            return comm.read_text().strip()
        return ""

    postgres = [
        p.parent.name for p in Path("/proc").glob("[0-9]*/comm") if command(p) == "postgres"
    ]
    spent["postgres"] = sum(seconds(pid) for pid in postgres)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent["test"] = usage.ru_utime + usage.ru_stime
    return spent


def _catalogued(fleet: Fleet) -> list[dict[str, Any]]:
    code = (
        "import json, sys\n"
        "from meetstream_catalog import read_table\n"
        "from meetstream_catalog.roots import Root\n"
        "root = Root.at(sys.argv[1], s3_endpoint_url=sys.argv[2])\n"
        "columns = ['bot_id', 'meeting_link_redacted', 'outcome', 'reason']\n"
        "t = read_table('bots', root, columns=columns)\n"
        "print(json.dumps(t.to_dict('records')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, f"s3://{BUCKET}/catalog", fleet.endpoint],
        env={**os.environ, **{k: v for k, v in fleet.worker_env.items() if k.startswith("AWS")}},
        cwd=PROJECT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    import json

    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


async def test_two_workers_share_one_catalog_on_s3_and_every_meeting_is_catalogued_once(
    fleet: Fleet,
) -> None:
    from prefect.client.orchestration import get_client

    before, requests_before = _cpu(fleet), _s3_requests(fleet)
    fleet.add_worker("worker-1")
    one = await _batch(fleet, 0)
    fleet.add_worker("worker-2")
    two = await _batch(fleet, 1)
    after = _cpu(fleet)
    spent = {name: (after[name] - before.get(name, 0.0)) / (2 * BATCH) for name in after}
    requests = _s3_requests(fleet) - requests_before
    print(
        f"\nscale-out: {BATCH} meetings per batch, --limit {WORKER_LIMIT} per worker: "
        f"1 worker {one:.1f} meetings/min, 2 workers {two:.1f} meetings/min "
        f"({two / one:.2f}x); CPU-seconds per meeting: "
        + ", ".join(f"{name} {seconds:.2f}" for name, seconds in sorted(spent.items()))
        + f"; S3 requests per meeting: {requests.total() / (2 * BATCH):.0f} ("
        + ", ".join(f"{kind} {n / (2 * BATCH):.0f}" for kind, n in requests.most_common())
        + ")",
        flush=True,
    )

    rows = _catalogued(fleet)
    links = [*_links(0), *_links(1)]
    by_link = {link: [r for r in rows if r["meeting_link_redacted"] == link] for link in links}
    assert {link: len(found) for link, found in by_link.items() if len(found) != 1} == {}
    assert [r for r in rows if r["outcome"] != "captured"] == []
    assert len({r["bot_id"] for r in rows}) == len(rows) == len(links)

    async with get_client() as client:
        assert await client.read_global_concurrency_limits() == []  # no fleet-wide lock
