"""Write-ahead intents: what makes two invocations the same request, and which intents a
pending collection re-sends (real Delta tables on a temporary path)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from meetstream_catalog.catalog import intents, pending
from meetstream_catalog.catalog.records import bot_record
from meetstream_catalog.catalog.write import write_bot_row
from meetstream_catalog.request import MeetingRequest, idempotency_key, request_key
from meetstream_catalog.roots import Root

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
LINK = "https://zoom.us/j/1000000001"


@pytest.fixture
def root(tmp_path: Path) -> Root:
    return Root(str(tmp_path / "catalog"))


def intent(
    key: str, *, link: str = LINK, minutes_left: float = 60, **extra: object
) -> intents.Intent:
    fields: dict[str, object] = {
        "key": key,
        "meeting_link": link,
        "link_has_secret": False,
        "bot_name": "Recorder",
        "join_at": None,
        "expires_at": NOW + dt.timedelta(minutes=minutes_left),
        "written_at": NOW - dt.timedelta(minutes=1),
        **extra,
    }
    return intents.Intent(**fields)  # type: ignore[arg-type]


def bot(root: Root, bot_id: str, key: str, outcome: str, *, link: str = LINK) -> None:
    record = bot_record(
        bot_id=bot_id,
        request_id=key,
        meeting_link=link,
        outcome=outcome,
        created_at=NOW,
        expected_end_at=NOW + dt.timedelta(hours=1),
    )
    write_bot_row(root, record)


def now_request(link: str = LINK, **extra: object) -> MeetingRequest:
    return MeetingRequest.model_validate({"meeting_link": link, **extra})


def test_a_join_now_request_with_an_unanswered_intent_is_re_sent_with_its_key(root: Root) -> None:
    intents.record(root, [intent("k1")])

    assert pending.same_request(now_request(), root, now=NOW) == pending.Resume(
        "k1", None, None, NOW + dt.timedelta(minutes=60)
    )


def test_a_join_now_request_whose_bot_is_recording_resumes_that_bot(root: Root) -> None:
    intents.record(root, [intent("k1")])
    bot(root, "b1", "k1", "in_progress")

    resume = pending.same_request(now_request(bot_name="Another name"), root, now=NOW)

    assert resume is not None
    assert (resume.key, resume.bot_id) == ("k1", "b1")  # the name does not make a request


@pytest.mark.parametrize(("outcome", "finished"), [("captured", True), ("partial", False)])
def test_within_its_deadline_a_catalogued_request_is_still_the_same_request(
    root: Root, outcome: str, finished: bool
) -> None:
    intents.record(root, [intent("k1")])
    bot(root, "b1", "k1", outcome)

    resume = pending.same_request(now_request(), root, now=NOW)

    assert resume is not None
    assert (resume.key, resume.bot_id, resume.outcome) == ("k1", "b1", outcome)
    assert resume.finished is finished  # captured: nothing to do; partial: complete it
    later = NOW + dt.timedelta(minutes=61)  # past its deadline: the next meeting in the room
    assert pending.same_request(now_request(), root, now=later) is None


def test_past_its_deadline_or_settled_an_intent_is_not_the_same_request(root: Root) -> None:
    intents.record(root, [intent("old", minutes_left=-1), intent("refused")])
    intents.settle(root, intent("refused"), intents.IntentState.REFUSED)

    assert pending.same_request(now_request(), root, now=NOW) is None
    assert pending.same_request(now_request("https://zoom.us/j/1000000002"), root, now=NOW) is None


def test_a_scheduled_intent_is_not_a_join_now_request(root: Root) -> None:
    intents.record(root, [intent("k1", join_at=NOW + dt.timedelta(hours=1))])

    assert pending.same_request(now_request(), root, now=NOW) is None


def test_a_request_id_or_join_time_is_the_identity_itself(root: Root) -> None:
    scheduled = now_request(join_at=NOW + dt.timedelta(hours=1))
    key = request_key(scheduled)
    assert key is not None
    assert pending.same_request(scheduled, root, now=NOW) is None  # nothing yet: create
    bot(root, "b1", key, "in_progress")

    resume = pending.same_request(scheduled, root, now=NOW)

    assert resume is not None
    assert (resume.key, resume.bot_id) == (key, "b1")
    # The same link at another time, or with a request id, is another request.
    assert pending.same_request(now_request(join_at=NOW), root, now=NOW) is None
    assert pending.same_request(now_request(request_id="x"), root, now=NOW) is None


def test_keys_join_now_per_run_scheduled_per_request_new_bot_always_fresh() -> None:
    scheduled = now_request(join_at=NOW)
    assert idempotency_key(scheduled, run_scope="r1") == idempotency_key(scheduled, run_scope="r2")
    assert idempotency_key(now_request(), run_scope="r1") != idempotency_key(
        now_request(), run_scope="r2"
    )
    fresh = idempotency_key(scheduled, run_scope="r1", new_bot=True)
    assert fresh != idempotency_key(scheduled, run_scope="r1")
    assert request_key(now_request()) is None


def test_a_bot_recorded_before_intents_existed_is_still_resumed(root: Root) -> None:
    bot(root, "b0", "old-key", "in_progress")

    resume = pending.same_request(now_request(), root, now=NOW)

    assert resume is not None
    assert (resume.key, resume.bot_id) == ("old-key", "b0")


def test_unresolved_lists_creating_intents_without_a_bots_row(root: Root) -> None:
    intents.record(
        root,
        [
            intent("answered"),
            intent("lost"),
            intent("refused"),
            intent("ancient", minutes_left=-3000),
        ],
    )
    intents.settle(root, intent("refused"), intents.IntentState.REFUSED)
    bot(root, "b1", "answered", "in_progress")

    assert [i.key for i in pending.unresolved(root, now=NOW)] == ["lost"]


def test_an_intent_keeps_what_a_re_send_needs_but_never_the_passcode(root: Root) -> None:
    request = MeetingRequest.from_link(
        "https://zoom.us/j/1000000001?pwd=sEcReT", custom_attributes={"team": "qa"}
    )
    kept = intent("k1", link_has_secret=request.full_link is not None,
                  custom_attributes={"team": "qa"}, composite_video=False)  # fmt: skip
    intents.record(root, [kept])

    [stored] = intents.latest(root)

    assert stored.meeting_link == LINK
    assert stored.link_has_secret
    assert (stored.custom_attributes, stored.composite_video) == ({"team": "qa"}, False)
    raw = b"".join(p.read_bytes() for p in Path(root.url).rglob("*") if p.is_file())
    assert b"sEcReT" not in raw
