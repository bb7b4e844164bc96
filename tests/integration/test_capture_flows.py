"""The capture flows through Prefect, against the simulator over a real socket.

One Prefect test API serves the whole session (`prefect_api`); the simulator runs on a
free 127.0.0.1 port for this module. Faults are injected through the simulator's admin
API, exactly as a user would script them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from flows.capture import CaptureFailedError, capture_meeting, capture_meetings
from flows.collect import collect_bot
from meetstream_catalog import catalog
from meetstream_catalog.cli.demo import DEMO_SCENARIO
from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.simulator.scenario import load_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import DEMO_API_KEY, SimulatorConfig

pytestmark = pytest.mark.usefixtures("prefect_api")

ZOOM = "https://zoom.us/j/1000000001"


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    config = SimulatorConfig(scenario=load_scenario(DEMO_SCENARIO), speed=600)
    with serve_in_thread(config) as url:
        yield url


@pytest.fixture
def api(simulator_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Point the pipeline at the simulator and `tmp_path` (the storage roots are settings,
    as on a worker); clears faults left by a failed test."""
    for name, root in _roots(tmp_path).items():
        monkeypatch.setenv(f"MEETSTREAM_{name.upper()}", root)
    monkeypatch.setenv("MEETSTREAM_API_URL", simulator_url)
    monkeypatch.setenv("MEETSTREAM_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("MEETSTREAM_POLL_INTERVAL_SECONDS", "0.1")
    monkeypatch.setenv("MEETSTREAM_POLL_MAX_INTERVAL_SECONDS", "0.5")
    yield simulator_url
    httpx.delete(_admin(simulator_url, "faults"))


def _admin(api_url: str, path: str) -> str:
    return api_url.removesuffix("/api/v1") + f"/_simulator/{path}"


def _fault(api_url: str, **rule: Any) -> None:
    httpx.post(_admin(api_url, "faults"), json=rule).raise_for_status()


def _roots(tmp_path: Path) -> dict[str, str]:
    return {"media_root": str(tmp_path / "media"), "catalog_root": str(tmp_path / "catalog")}


def _tables(root: str) -> dict[str, pd.DataFrame]:
    return {name: catalog.read_table(name, root) for name in ("bots", "media", "participants")}


def _files_holding(root: str, needle: bytes) -> list[Path]:
    """The catalog's files (intents and Delta logs included) that contain `needle`."""
    files = [p for p in Path(root).rglob("*") if p.is_file()]
    assert any("intents" in p.parts for p in files)
    return [p for p in files if needle in p.read_bytes()]


def _assert_media_on_disk(media: pd.DataFrame) -> None:
    for row in media.itertuples():
        data = Path(row.storage_uri.removeprefix("file://")).read_bytes()
        assert len(data) == row.bytes
        assert hashlib.sha256(data).hexdigest() == row.sha256


def test_demo_meetings_are_catalogued_with_every_case(demo_catalog: str) -> None:
    t = _tables(demo_catalog)
    bots = t["bots"].set_index("meeting_link_redacted")
    assert len(bots) == 5
    assert bots["outcome"].value_counts().to_dict() == {"captured": 4, "denied": 1}
    assert set(bots["platform"]) == {"zoom", "google_meet", "teams"}
    people = t["participants"].merge(t["bots"][["bot_id", "meeting_link_redacted"]], on="bot_id")
    alex = people[people["participant_name"] == "Alex Kim"]
    # Two people named "Alex Kim": their devices' streamIds tie each one's audio and webcam.
    assert len(alex) == 2
    assert set(alex["match"]) == {"both"}
    assert set(alex["match_method"]) == {"device"}
    assert alex["device_id"].nunique() == 2
    teams = people[people["meeting_link_redacted"].str.contains("teams")]
    assert set(teams["match"]) == {"video_only"}
    camille = people[people["participant_name"] == "Camille Laurent"]
    assert camille["match"].tolist() == ["video_only"]
    sam = people[people["participant_name"] == "Sam Taylor"]
    assert sam[["meeting_link_redacted", "match"]].values.tolist() == [[ZOOM, "no_media"]]
    big = bots.loc["https://zoom.us/j/1000000018"]
    assert bool(big["speaker_cap_reached"])
    assert bool(big["camera_cap_reached"])
    assert (t["media"]["bot_id"].value_counts() > 0).all()
    _assert_media_on_disk(t["media"])


def test_nothing_secret_reaches_the_catalog(demo_catalog: str) -> None:
    for name, frame in _tables(demo_catalog).items():
        for column in frame.select_dtypes(include=["object", "string"]).columns:
            text = " ".join(frame[column].dropna().astype(str))
            assert "X-Amz-Signature" not in text, (name, column)
            assert DEMO_API_KEY not in text, (name, column)
            assert "pwd=" not in text, (name, column)


async def test_rerun_replays_the_same_bot_and_leaves_the_same_rows(
    api: str, tmp_path: Path
) -> None:
    request = MeetingRequest.from_link(f"{ZOOM}?pwd=s3cret", request_id="rerun-test")
    first = await capture_meeting(request)
    before = _tables(_roots(tmp_path)["catalog_root"])
    second = await capture_meeting(request)
    after = _tables(_roots(tmp_path)["catalog_root"])

    assert first.bot_id == second.bot_id
    bots = httpx.get(_admin(api, "bots")).json()["bots"]
    assert [b["bot_id"] for b in bots].count(first.bot_id) == 1
    for name in ("media", "participants"):
        stable = [c for c in before[name].columns if not c.endswith("_at")]
        pd.testing.assert_frame_equal(
            before[name][stable].sort_values(stable[:3]).reset_index(drop=True),
            after[name][stable].sort_values(stable[:3]).reset_index(drop=True),
        )
    assert len(after["bots"]) == 1
    assert "s3cret" not in after["bots"]["meeting_link_redacted"].iloc[0]
    # Not in any byte of the catalog either: the intents written before each create call
    # (and their Delta logs) hold the address only.
    assert _files_holding(_roots(tmp_path)["catalog_root"], b"s3cret") == []


async def test_expired_urls_and_dropped_downloads_are_refetched_and_resumed(
    api: str, tmp_path: Path
) -> None:
    request = MeetingRequest(meeting_link=ZOOM, request_id="expiry-test")
    _fault(api, endpoint="get_audio_streams", expire_after=0, count=1)
    _fault(api, endpoint="media", drop_after_bytes=2000, count=2)
    result = await capture_meeting(request)

    assert result.outcome == "captured"
    media = catalog.read_table("media", _roots(tmp_path)["catalog_root"])
    assert set(media["kind"]) >= {"audio", "webcam", "screenshare"}
    _assert_media_on_disk(media)
    remaining = httpx.get(_admin(api, "faults")).json()["faults"]
    assert remaining == []  # both faults fired


async def test_a_crash_between_archive_and_catalog_heals_on_rerun(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = MeetingRequest(meeting_link=ZOOM, request_id="crash-test")
    real_write = catalog.write_bot
    calls = {"n": 0}

    def crash_once(*args: Any, **kwargs: Any) -> None:
        if kwargs["bot"].outcome != "in_progress":  # the commit after the archive
            calls["n"] += 1
            if calls["n"] == 1:
                raise OSError("simulated crash while writing the catalog")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(catalog, "write_bot", crash_once)
    with pytest.raises(CaptureFailedError, match="simulated crash"):
        await capture_meeting(request)
    failed = _tables(_roots(tmp_path)["catalog_root"])
    assert failed["bots"]["outcome"].tolist() == ["failed"]
    assert "simulated crash" in failed["bots"]["reason"].iloc[0]
    assert failed["media"].empty
    archived = sorted(p for p in (tmp_path / "media").rglob("*") if p.is_file())
    assert archived, "the archive step finished before the crash"
    assert not [p for p in archived if p.name.startswith(".")], "no temporary files left"

    result = await capture_meeting(request)
    healed = _tables(_roots(tmp_path)["catalog_root"])
    assert result.outcome == "captured"
    assert healed["bots"]["outcome"].tolist() == ["captured"]
    assert len(healed["media"]) == len(archived)
    assert healed["media"]["key"].is_unique
    _assert_media_on_disk(healed["media"])


async def test_concurrent_meetings_share_a_day_partition_without_losing_rows(
    api: str, tmp_path: Path
) -> None:
    links = [f"https://zoom.us/j/77700{n:05d}" for n in range(12)]
    requests = [MeetingRequest(meeting_link=link, request_id=f"c-{link}") for link in links]
    results = await capture_meetings(requests, concurrency=12)

    assert [r.outcome for r in results] == ["captured"] * 12
    t = _tables(_roots(tmp_path)["catalog_root"])
    assert t["bots"]["bot_id"].nunique() == 12
    assert t["bots"]["meeting_date"].nunique() == 1
    per_bot = t["media"].groupby("bot_id").size()
    expected = {r.bot_id: r.media_files for r in results}
    assert per_bot.to_dict() == expected


async def test_one_failing_meeting_does_not_stop_the_others(api: str, tmp_path: Path) -> None:
    good = MeetingRequest(meeting_link=ZOOM, request_id="good")
    bad = MeetingRequest(meeting_link="https://zoom.us/j/1000000001", request_id="bad")
    _fault(api, endpoint="create_bot", status=400, message="meeting_link is invalid.", count=1)
    state = await capture_meetings([bad, good], concurrency=1, return_state=True)
    results = await state.result()

    assert [r.outcome for r in results] == ["failed", "captured"]
    assert "meeting_link is invalid" in results[0].reason
    assert (state.type.value, state.name) == ("COMPLETED", "Partial")  # not a clean success
    # The refused create call settled its intent: nobody re-sends it.
    from prefect.client.orchestration import get_client

    from meetstream_catalog.catalog import intents
    from meetstream_catalog.request import request_key
    from meetstream_catalog.roots import Root

    written = intents.latest(Root(_roots(tmp_path)["catalog_root"]))
    states = {i.key: i.state.value for i in written}
    assert states == {request_key(bad): "refused", request_key(good): "creating"}

    async with get_client() as client:
        latest = await client.read_latest_artifacts()
    [summary] = [a for a in latest if a.key == "capture-summary"]
    table = json.loads(summary.data) if isinstance(summary.data, str) else summary.data
    assert [row["outcome"] for row in table] == ["failed", "captured"]
    assert set(table[0]) == {
        "meeting",
        "outcome",
        "bot",
        "files",
        "missing",
        "transcript",
        "reason",
    }
    assert (summary.description or "").startswith("2 meeting(s): 1 captured, 1 failed.")


async def test_collect_bot_catalogues_an_existing_bot(api: str, tmp_path: Path) -> None:
    created = httpx.post(
        f"{api}/bots/create_bot",
        headers={"Authorization": f"Token {DEMO_API_KEY}"},
        json={
            "meeting_link": "https://meet.google.com/abc-defg-hij",
            "bot_name": "Elsewhere",
            "audio_separate_streams": True,
            "video_separate_streams": True,
        },
    ).json()
    result = await collect_bot(created["bot_id"])

    assert result.outcome == "captured"
    bots = catalog.read_table("bots", _roots(tmp_path)["catalog_root"])
    assert bots["bot_name"].tolist() == ["Elsewhere"]
    assert bots["platform"].tolist() == ["google_meet"]


async def test_denied_bot_is_an_outcome_not_a_crash(api: str, tmp_path: Path) -> None:
    scenario = load_scenario(DEMO_SCENARIO)
    denied = next(link for link, s in scenario.meetings.items() if s.outcome == "denied")
    result = await capture_meeting(MeetingRequest(meeting_link=denied, request_id="denied"))
    assert (result.outcome, result.final_status) == ("denied", "Denied")


async def test_a_passcode_never_reaches_the_runs_parameters(api: str) -> None:
    # (Run logs are covered end to end: this session sends no logs to its test API.)
    from prefect.client.orchestration import get_client

    request = MeetingRequest.from_link(f"{ZOOM}?pwd=in-process-secret", request_id="secret")
    state = await capture_meeting(request, return_state=True)
    assert state.is_completed()

    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]

    assert "in-process-secret" not in json.dumps(run.parameters)
    assert run.parameters["request"]["meeting_link"] == ZOOM
    assert run.name == "zoom 1000000001 · Meeting Recorder · now"


async def _refused_with_validation_off(
    api: str, request: dict[str, str], caplog: pytest.LogCaptureFixture
) -> tuple[str, dict[str, Any]]:
    """Run capture-meeting on parameters the server stored unvalidated (as the UI does with
    "Validate parameters" off, or any API client); check that the passcode `abc123` is in
    no message, log or stored parameter and that no bot was created. Returns the run's
    state message and its stored request."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    raw = {"request": request}
    async with get_client() as client:
        created = await client.create_flow_run(capture_meeting, parameters=raw)
        state = await run_flow(capture_meeting, flow_run=created, parameters=raw,
                               return_type="state")  # fmt: skip
        stored = await client.read_flow_run(created.id)
        logs = await client.read_logs()

    assert state.is_failed()
    said = [state.message or "", caplog.text, json.dumps(stored.parameters)]
    said += [log.message for log in logs]
    assert not [text for text in said if "abc123" in text]
    meeting = re.findall(r"\d{10}", request["meeting_link"])[0]
    bots = httpx.get(_admin(api, "bots")).json()["bots"]
    assert not [b for b in bots if meeting in b["meeting_url"]]  # no bot was created
    return state.message or "", stored.parameters["request"]


@pytest.mark.parametrize(
    "link",
    [
        "https://zoom.us/j/1000000002?pwd=abc123",
        "https://zoom.us/j/1000000002#pwd=abc123",
        "https://user:abc123@zoom.us/j/1000000002",
        "https://zoom.us/j/1000000002;pwd=abc123",
        "https://zoom.us/j/1000000002%3Fpwd%3Dabc123",
    ],
)
async def test_a_run_created_with_a_passcode_in_its_parameters_is_refused_and_scrubbed(
    api: str, link: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The flow's first line removes the link's private part and refuses the run."""
    request = {"meeting_link": link, "bot_name": "Recorder"}

    message, stored = await _refused_with_validation_off(api, request, caplog)

    assert "meeting_link: the link carries a passcode" in message
    assert stored["meeting_link"] == "https://zoom.us/j/1000000002"


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"link_secret": "https://zoom.us/j/1000000003?pwd=abc123"}, "link_secret"),
        ({"link_secret": "zoom.us/j/1000000003?pwd=abc123"}, "link_secret"),
        ({"full_link": "https://zoom.us/j/1000000003?pwd=abc123"}, "full_link"),
    ],
)
async def test_a_passcode_in_another_field_is_refused_and_scrubbed_too(
    api: str, request_fields: dict[str, str], field: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A full link pasted as the Secret block's name, or sent as the model's hidden
    `full_link`: removed from the stored parameters, run refused."""
    request = {"meeting_link": "https://zoom.us/j/1000000003", **request_fields}

    message, stored = await _refused_with_validation_off(api, request, caplog)

    assert message.count(f"{field}: ") == 1
    assert stored.get(field, "") == ""


async def test_a_fan_out_link_block_is_deleted_once_its_bot_exists_and_a_rerun_still_resumes(
    api: str,
) -> None:
    """The fan-out keeps each full link in a `meetstream-link-<key>` Secret block; once the
    bot is recorded the passcode is never needed again, so the block is deleted. A block a
    person named is theirs and stays; stale fan-out blocks go with catalog maintenance."""
    import datetime as dt

    from prefect.blocks.system import Secret

    from tasks.settings import forget_stale_links

    fan_out, mine = "meetstream-link-test-fan-out", "standup-link"
    await Secret(value=f"{ZOOM}?pwd=s3cret").asave(fan_out, overwrite=True)
    await Secret(value=f"{ZOOM}?pwd=s3cret").asave(mine, overwrite=True)
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)  # a key of its own: join time
    request = MeetingRequest(meeting_link=ZOOM, link_secret=fan_out, join_at=when)

    first = await capture_meeting(request, mode="wait")

    assert first.outcome.value == "captured"
    with pytest.raises(ValueError, match="Unable to find block document"):
        await Secret.aload(fan_out)
    again = await capture_meeting(request, mode="wait")  # e.g. a retried child run
    assert again.bot_id == first.bot_id  # the same request: no second bot, no block needed
    kept = await capture_meeting(
        MeetingRequest(meeting_link=ZOOM, link_secret=mine, request_id="own-block"), mode="wait"
    )
    assert kept.outcome.value == "captured"
    assert (await Secret.aload(mine)).get() == f"{ZOOM}?pwd=s3cret"

    await Secret(value=f"{ZOOM}?pwd=left").asave("meetstream-link-left-by-a-crash")
    assert await forget_stale_links(older_than=dt.timedelta(0)) == 1
    assert (await Secret.aload(mine)).get() == f"{ZOOM}?pwd=s3cret"


async def test_a_run_whose_job_variables_set_a_storage_root_is_refused(api: str) -> None:
    """ "Additional options -> Job variables" in the run form: the worker would put them in
    the flow's environment, and the run would write wherever it asked."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    raw = {"request": {"meeting_link": ZOOM, "request_id": "job-variables"}}
    before = len(httpx.get(_admin(api, "bots")).json()["bots"])
    asked = {"env": {"MEETSTREAM_CATALOG_ROOT": "/tmp/elsewhere", "MEETSTREAM_WEBHOOK_URL": ""}}
    async with get_client() as client:
        created = await client.create_flow_run(capture_meeting, parameters=raw,
                                               job_variables=asked)  # fmt: skip
        state = await run_flow(capture_meeting, flow_run=created, parameters=raw,
                               return_type="state")  # fmt: skip

    assert state.is_failed()
    assert "job variables set MEETSTREAM_CATALOG_ROOT" in (state.message or "")
    assert len(httpx.get(_admin(api, "bots")).json()["bots"]) == before  # no bot was created
