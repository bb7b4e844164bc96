"""The account's bots as MeetStream lists them: `GET /bots` and `GET /calendar/scheduled_bots`.

Both are paged (docs/meetstream-api.md, section 11): a page holds `bots` (or
`scheduled_bots`, `results`, `data`), `hasNextPage` and `nextCursor`, and the next page is
asked for with `?cursor=`. Only the list's existence and paths are confirmed (the official
SDK); the page and item shapes are inferred, so every documented or likely variant is
accepted. Traps guarded here: an endless listing (a server that repeats a cursor, or one
that never stops, is cut off by `MAX_PAGES` and a seen-cursor check), and a list item's
meeting link, which may carry its passcode (only its redacted address is kept).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator

from meetstream_catalog.meetstream.bot import BotState
from meetstream_catalog.meetstream.models import Liberal
from meetstream_catalog.redaction import redact_link

__all__ = ["MAX_PAGES", "AccountBot", "BotPage"]

MAX_PAGES = 1000  # at 50 a page, 50,000 bots: past it, the listing is cut off with a warning
_ITEMS = ("bots", "scheduled_bots", "results", "data", "items")


class AccountBot(Liberal):
    """One bot of the account: enough to know whether to collect it, or record it pending."""

    bot_id: str = Field(validation_alias=AliasChoices("bot_id", "BotID", "id"))
    status: str | None = Field(default=None, validation_alias=AliasChoices("status", "Status"))
    meeting_link: str | None = Field(
        default=None,
        validation_alias=AliasChoices("meeting_link", "meeting_url", "MeetingLink"),
    )
    bot_name: str | None = Field(default=None, validation_alias=AliasChoices("bot_name", "BotName"))
    created_at: dt.datetime | None = Field(
        default=None, validation_alias=AliasChoices("created_at", "CreatedAt", "created")
    )
    join_at: dt.datetime | None = Field(
        default=None,
        validation_alias=AliasChoices("scheduled_join_time", "join_at", "JoinAt"),
    )
    scheduled: bool = False  # from the calendar's scheduled-bot list

    @field_validator("meeting_link")
    @classmethod
    def _address_only(cls, value: str | None) -> str | None:
        return redact_link(value) if value else value

    @field_validator("created_at", "join_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=dt.UTC)

    @property
    def state(self) -> BotState:
        """A scheduled bot without a status has not joined yet."""
        if self.status is None and self.scheduled:
            return BotState.SCHEDULED
        return BotState.parse(self.status)


class BotPage(Liberal):
    """One page of a bot listing, and the cursor of the next (None on the last page)."""

    bots: list[AccountBot] = Field(default_factory=list)
    next_cursor: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _liberal(cls, data: Any) -> Any:
        if isinstance(data, list):  # a bare list: one page, no more
            return {"bots": data}
        if not isinstance(data, dict):
            return data
        items: list[object] = next((data[k] for k in _ITEMS if isinstance(data.get(k), list)), [])
        cursor = data.get("nextCursor", data.get("next_cursor"))
        more = data.get("hasNextPage", data.get("has_next_page", data.get("has_more")))
        if more is False or not isinstance(cursor, str) or not cursor:
            cursor = None
        return {"bots": [i for i in items if isinstance(i, dict)], "next_cursor": cursor}
