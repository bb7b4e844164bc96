"""The scheduled batch's fan-out: which deployment each chunk of meetings becomes a run of,
with what parameters, and that no passcode becomes a parameter."""

from __future__ import annotations

from typing import Any

import pytest

from flows import batch
from meetstream_catalog.request import MeetingRequest


class _Run:
    def __init__(self, n: int) -> None:
        self.name, self.id = f"run-{n}", f"00000000-0000-0000-0000-{n:012d}"


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    secrets: dict[str, str] = {}

    async def run_deployment(name: str, **kwargs: Any) -> _Run:
        calls.append({"deployment": name, **kwargs})
        return _Run(len(calls))

    class FakeSecret:
        def __init__(self, value: str) -> None:
            self.value = value

        async def asave(self, name: str, overwrite: bool = False) -> None:
            secrets[name] = self.value

    monkeypatch.setattr(batch, "arun_deployment", run_deployment)
    monkeypatch.setattr(batch, "Secret", FakeSecret)
    return calls


def _requests(count: int) -> list[MeetingRequest]:
    return [
        MeetingRequest.from_link(f"https://zoom.us/j/90000{i:05d}?pwd=secret{i}", bot_name="R")
        for i in range(count)
    ]


async def test_one_meeting_is_a_run_of_the_single_meeting_deployment(
    submitted: list[dict[str, Any]],
) -> None:
    rows = await batch._submit(_requests(1), concurrency=50)

    [call] = submitted
    assert call["deployment"] == batch.SINGLE_MEETING_DEPLOYMENT
    assert call["parameters"]["request"]["link_secret"].startswith("meetstream-link-")
    assert [r.flow_run for r in rows] == ["run-1"]


async def test_a_chunk_is_one_run_of_the_many_meetings_deployment(
    submitted: list[dict[str, Any]],
) -> None:
    rows = await batch._submit(_requests(3), concurrency=7)

    [call] = submitted
    assert call["deployment"] == batch.MEETINGS_DEPLOYMENT
    assert call["parameters"]["concurrency"] == 7
    requests = call["parameters"]["requests"]
    assert [r["meeting_link"] for r in requests] == [
        f"https://zoom.us/j/90000{i:05d}" for i in range(3)
    ]
    assert all(r["link_secret"] for r in requests)
    assert "pwd=" not in repr(call)  # every passcode went into a Secret block
    assert len(rows) == 3
    assert len(call["idempotency_key"]) == 64  # one key for the chunk, stable on retries
    again = await batch._submit(_requests(3), concurrency=7)
    assert submitted[1]["idempotency_key"] == call["idempotency_key"]
    assert len(again) == 3


async def test_submitted_parameters_pass_the_deployments_own_schema_check(
    submitted: list[dict[str, Any]],
) -> None:
    """The server validates a deployment run's parameters against the flow's schema
    (`enforce_parameter_schema`): an unset optional field must not be sent as null."""
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools import validate

    from flows.capture import capture_meeting, capture_meetings

    plain = MeetingRequest(meeting_link="https://zoom.us/j/1")  # no passcode, no block
    await batch._submit([plain], concurrency=50)
    await batch._submit([plain, *_requests(2)], concurrency=5)

    for call, flow in zip(submitted, (capture_meeting, capture_meetings), strict=True):
        schema = parameter_schema(flow.fn).model_dump()
        assert validate(call["parameters"], schema, raise_on_error=True) == []
