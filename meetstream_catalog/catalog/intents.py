"""The `intents` table: a capture's promise to create a bot, written before the create call.

A bot costs money from the instant MeetStream creates it, but the capture learns its id
only when the answer arrives, and records it (`bots`, `in_progress`) only after that. A
crash anywhere in that window (the call in flight, the answer received but not yet
written) used to leave nothing local that knew the bot, and a re-run paid for a second one.
So every create call is preceded by an appended intent row: the request (its redacted
link, never the passcode), its idempotency key and `creating`. Whoever finds an intent
without a `bots` row for its key (a re-run of the same request, `collect --pending`, the
scheduled batch) re-sends create with the SAME key, and MeetStream answers 507 with the
original bot; if the first call never arrived, that re-send is the first one.

Append-only, like `bot_events`: a later row for the same key (`refused`, `abandoned`)
settles it, and the latest row per key is what counts. Traps guarded here: the passcode
(`link_has_secret` says the stored link is not enough to re-send; only a re-run that
brings the full link can), and the clock (`expires_at`, an aware UTC instant: after it the
request is over and its intent is no longer "the same request").
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from meetstream_catalog.catalog.append import append_rows
from meetstream_catalog.catalog.read import read_table
from meetstream_catalog.catalog.schema import INTENTS, PARTITIONS
from meetstream_catalog.redaction import redact_link
from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.roots import Root

__all__ = ["Intent", "IntentState", "latest", "record", "settle"]


class IntentState(enum.StrEnum):
    CREATING = "creating"  # the create call is about to be sent (or its answer was lost)
    REFUSED = "refused"  # MeetStream refused the create call: no bot exists
    ABANDONED = "abandoned"  # past its deadline and no bot is known: nothing to resume


@dataclass(frozen=True)
class Intent:
    """One create call about to be sent: enough to recognise the same request and re-send."""

    key: str
    meeting_link: str  # redacted: the meeting's address only
    link_has_secret: bool  # the link had a passcode the catalog does not keep
    bot_name: str
    join_at: dt.datetime | None
    expires_at: dt.datetime  # the request is over (joined, met its longest, left) by then
    max_meeting_minutes: int = 240
    composite_video: bool = True
    custom_attributes: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    state: IntentState = IntentState.CREATING
    written_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def of(
        cls,
        request: MeetingRequest,
        *,
        key: str,
        expires_at: dt.datetime,
        run_id: str | None,
        written_at: dt.datetime,
    ) -> Intent:
        """The intent of creating a bot for `request` (its address only, never the link)."""
        return cls(
            key=key,
            meeting_link=request.meeting_link,
            link_has_secret=request.full_link is not None,
            bot_name=request.bot_name,
            join_at=request.join_at,
            expires_at=expires_at,
            max_meeting_minutes=request.max_meeting_minutes,
            composite_video=request.composite_video,
            custom_attributes=dict(request.custom_attributes),
            run_id=run_id,
            written_at=written_at,
        )

    def request(self, link_secret: str | None) -> MeetingRequest:
        """The request this intent records, to re-send its create call; its full link is
        in the Secret block `link_secret`, if the link had a passcode."""
        return MeetingRequest(
            meeting_link=self.meeting_link,
            link_secret=link_secret if self.link_has_secret else None,
            bot_name=self.bot_name,
            join_at=self.join_at,
            max_meeting_minutes=self.max_meeting_minutes,
            custom_attributes=self.custom_attributes,
            composite_video=self.composite_video,
        )

    def live(self, now: dt.datetime) -> bool:
        return self.state is IntentState.CREATING and self.expires_at > now

    def settled(self, state: IntentState) -> Intent:
        """The row that closes this intent (`refused`, `abandoned`)."""
        return Intent(**{**self.__dict__, "state": state, "written_at": dt.datetime.now(dt.UTC)})


def record(root: Root, intents: Sequence[Intent]) -> None:
    """Append these intents in one commit. Blocking; raises CatalogConflictError if the
    commit kept conflicting (then no create call may be sent)."""
    append_rows(root, INTENTS, [_row(i) for i in intents])


def settle(root: Root, intent: Intent, state: IntentState = IntentState.ABANDONED) -> None:
    """Close an intent (`refused`, `abandoned`): nobody re-sends it after this."""
    record(root, [intent.settled(state)])


def latest(root: Root, *, meeting_link: str | None = None) -> list[Intent]:
    """The latest row of every intent (of one meeting address, if given), newest first."""
    filters = [("meeting_link_redacted", "==", redact_link(meeting_link))] if meeting_link else None
    rows = read_table(INTENTS, root, filters=filters)
    if rows.empty:
        return []
    rows = rows.sort_values("written_at", ascending=False).drop_duplicates("key")
    return [_intent({str(k): v for k, v in r.items()}) for r in rows.to_dict("records")]


def _row(intent: Intent) -> dict[str, Any]:
    return {
        "key": intent.key,
        "state": intent.state.value,
        "meeting_link_redacted": redact_link(intent.meeting_link),
        "link_has_secret": intent.link_has_secret,
        "bot_name": intent.bot_name,
        "join_at": intent.join_at,
        "max_meeting_minutes": intent.max_meeting_minutes,
        "composite_video": intent.composite_video,
        "custom_attributes": json.dumps(intent.custom_attributes, sort_keys=True),
        "expires_at": intent.expires_at,
        "run_id": intent.run_id,
        "written_at": intent.written_at,
        PARTITIONS[INTENTS]: intent.written_at.date(),
    }


def _intent(row: dict[str, Any]) -> Intent:
    attributes = json.loads(row.get("custom_attributes") or "{}")
    minutes = row.get("max_meeting_minutes")
    return Intent(
        key=str(row["key"]),
        meeting_link=str(row["meeting_link_redacted"]),
        link_has_secret=bool(row["link_has_secret"]),
        bot_name=str(row["bot_name"]),
        join_at=_moment(row.get("join_at")),
        expires_at=_moment(row["expires_at"]) or dt.datetime.now(dt.UTC),
        max_meeting_minutes=240 if minutes is None or pd.isna(minutes) else int(minutes),
        composite_video=bool(row.get("composite_video", True)),
        custom_attributes={str(k): str(v) for k, v in attributes.items()},
        run_id=None if row.get("run_id") is None else str(row["run_id"]),
        state=IntentState(row["state"]),
        written_at=_moment(row["written_at"]) or dt.datetime.now(dt.UTC),
    )


def _moment(value: object) -> dt.datetime | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    moment: dt.datetime = pd.Timestamp(value).to_pydatetime()  # type: ignore[arg-type]
    return moment
