"""What an operator does in the Prefect UI, on the real server and worker: runs created with
"Validate parameters" off, a misspelled Secret block, job variables that ask for other
storage roots. No passcode survives in any API answer, database row, log or artifact; each
refusal is one line in the worker's output."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import Stack  # tests/e2e/conftest.py: the session's running deployment

pytestmark = [pytest.mark.e2e]

PASSCODE = "pc7e2eUI"
# Every place a link can carry a passcode: query, fragment, user info, `;` parameter,
# percent-encoded in the path.
LINKS = (
    f"https://zoom.us/j/5550009001?pwd={PASSCODE}",
    f"https://zoom.us/j/5550009002#pwd={PASSCODE}",
    f"https://u:{PASSCODE}@zoom.us/j/5550009003",
    f"https://zoom.us/j/5550009004;pwd={PASSCODE}",
    f"https://zoom.us/j/5550009005%3Fpwd%3D{PASSCODE}",
)


def _deployment_id(stack: Stack, name: str) -> str:
    answer = httpx.get(f"{stack.api_url}/deployments/name/{name}", timeout=10)
    answer.raise_for_status()
    return str(answer.json()["id"])


def _create_run(stack: Stack, parameters: dict[str, Any], **body: Any) -> httpx.Response:
    """POST create_flow_run as the UI's run form does with "Validate parameters" off."""
    deployment = _deployment_id(stack, "capture-meeting/capture-meeting")
    for _ in range(10):  # a busy SQLite server answers 503; Prefect's own client retries too
        answer = httpx.post(
            f"{stack.api_url}/deployments/{deployment}/create_flow_run",
            json={"parameters": parameters, "enforce_parameter_schema": False, **body},
            timeout=10,
        )
        if answer.status_code != 503:
            break
        time.sleep(1)
    return answer


async def _final(stack: Stack, run_ids: list[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 120
    while True:
        runs = [httpx.get(f"{stack.api_url}/flow_runs/{r}", timeout=10).json() for r in run_ids]
        if all(r["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") for r in runs):
            return runs
        assert time.monotonic() < deadline, [r["state"]["type"] for r in runs]
        await asyncio.sleep(1)


def _everything_the_server_holds(stack: Stack, run_ids: list[str]) -> str:
    """The API's answers about these runs (run, logs, artifacts) and every row of the
    server's database, as text."""
    api = stack.api_url
    answers = [httpx.get(f"{api}/flow_runs/{r}", timeout=10).text for r in run_ids]
    answers.append(httpx.post(f"{api}/logs/filter", json={"limit": 200}, timeout=10).text)
    answers.append(httpx.post(f"{api}/artifacts/filter", json={}, timeout=10).text)
    database = stack.logs["server"].parent / "server-home" / "prefect.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        answers.extend(db.iterdump())
    return "\n".join(answers)


async def test_runs_created_with_validation_off_keep_no_passcode_anywhere(stack: Stack) -> None:
    worker_log = stack.logs["worker"]
    before = worker_log.stat().st_size
    created = [_create_run(stack, {"request": {"meeting_link": link}}) for link in LINKS]
    assert [c.status_code for c in created] == [201] * len(LINKS), [c.text for c in created]
    ids = [str(c.json()["id"]) for c in created]

    runs = await _final(stack, ids)

    assert {r["state"]["type"] for r in runs} == {"FAILED"}
    for run in runs:
        assert "the link carries a passcode" in run["state"]["message"]
        assert run["parameters"]["request"]["meeting_link"].startswith(
            "https://zoom.us/j/555000900"
        )
    held = _everything_the_server_holds(stack, ids)
    assert "5550009001" in held  # the runs are there, scrubbed
    assert PASSCODE not in held
    output = worker_log.read_bytes()[before:].decode(errors="replace")
    assert "5550009001" in output  # the worker ran them
    assert PASSCODE not in output
    assert "Traceback" not in output  # a refusal is one line
    admin = stack.simulator_url.removesuffix("/api/v1") + "/_simulator/bots"
    bots = httpx.get(admin, timeout=10).json()["bots"]
    assert not [b for b in bots if "555000900" in b["meeting_url"]]  # no bot was created


async def test_a_misspelled_secret_block_fails_the_run_in_one_line(stack: Stack) -> None:
    worker_log = stack.logs["worker"]
    before = worker_log.stat().st_size
    request = {"meeting_link": "https://zoom.us/j/5550009100", "link_secret": "no-such-blokc"}
    created = _create_run(stack, {"request": request})

    (run,) = await _final(stack, [str(created.json()["id"])])

    assert run["state"]["type"] == "FAILED"
    output = worker_log.read_bytes()[before:].decode(errors="replace")
    assert "Refused: No Secret block named 'no-such-blokc': create it" in output
    assert "Traceback" not in output


async def test_a_run_cannot_move_the_storage_roots_through_job_variables(
    stack: Stack, tmp_path: Any
) -> None:
    elsewhere = tmp_path / "elsewhere"
    request = {"meeting_link": "https://zoom.us/j/5550009200"}
    env = {"MEETSTREAM_CATALOG_ROOT": str(elsewhere), "MEETSTREAM_MEDIA_ROOT": str(elsewhere)}

    created = _create_run(stack, {"request": request}, job_variables={"env": env})

    # Prefect stores job variables the pool's template (work-pool.json) does not know, and
    # the template keeps them out of the flow-run process; the flow refuses the run anyway.
    assert created.status_code == 201, created.text
    (run,) = await _final(stack, [str(created.json()["id"])])
    assert run["state"]["type"] == "FAILED"
    assert "storage roots are the worker's settings" in run["state"]["message"]
    assert not elsewhere.exists()
