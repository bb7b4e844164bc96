"""One meeting request, and what is derived from it once: its idempotency key, UTC times.

`MeetingRequest` is the single-meeting deployment's parameter model, so the Prefect UI
renders it as a form (field descriptions become its labels). Traps guarded here:

- the passcode. A Zoom link carries it in `?pwd=`, other platforms in other query parts,
  and Prefect stores a run's parameters in plain text (the UI's Parameters tab, the API,
  its debug SQL log). So `meeting_link` holds only the meeting's address: its JSON schema
  refuses a query, fragment or user part, so the UI form and the server reject a pasted
  passcode before anything is stored. The full link travels as `full_link`, a `SecretStr`
  that Prefect records as `**********` for runs started in-process (CLI, lists), or is
  loaded by the worker from the Prefect Secret block named in `link_secret` (UI, API and
  fan-out runs). Which links are accepted is `meetstream_catalog.request.links`;
- the idempotency key: derived from the request itself, never inside a retry loop, so a
  retried task or a re-run flow replays the same bot (507) instead of paying for a second.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    WithJsonSchema,
    field_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from meetstream_catalog.request.links import (
    FORM_RULES,
    SUPPORTED_HOSTS,
    InvalidMeetingLinkError,
    carries_private_part,
    meeting_address,
    platform_from_link,
    run_label,
)

_KEY_NAMESPACE = uuid.UUID("5b0f5d1e-8a53-4c5e-9a43-2f1d3f0c7a10")


def _none_if_blank(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _empty_if_none(value: str | dt.datetime | None) -> str:
    return "" if value is None else value if isinstance(value, str) else value.isoformat()


# Optional fields render as plain text boxes: an empty box means "none", in the form and in
# JSON both ways, so a dumped request passes the server's schema check. (A `str | None`
# schema is an `anyOf`, which the Prefect form shows as a type toggle, without a text box
# until "str" is picked.)
OptionalText = Annotated[
    str | None,
    BeforeValidator(_none_if_blank),
    PlainSerializer(_empty_if_none, when_used="json"),
    WithJsonSchema({"type": "string"}),
]
OptionalTime = Annotated[
    dt.datetime | None,
    BeforeValidator(_none_if_blank),
    PlainSerializer(_empty_if_none, when_used="json"),
    WithJsonSchema({"type": "string"}),  # no "format": an empty box must validate
]
_EMPTY: JsonDict = {"default": ""}  # what the form shows and sends for "none"


class MeetingRequest(BaseModel):
    """Send a recorder into one meeting and archive everyone's audio and video."""

    # A refusal never repeats what was given: it may be a link with its passcode. The form's
    # checks of the link are `FORM_RULES` (the server applies them before storing a run);
    # in Python, `_supported` refuses with a sentence.
    model_config = ConfigDict(
        hide_input_in_errors=True,
        # No field the form does not show: `full_link` is this process's own.
        json_schema_extra={"allOf": FORM_RULES, "additionalProperties": False},
        title="Meeting",
    )

    meeting_link: Annotated[
        str,
        Field(
            title="Meeting link",
            description="The meeting's address without its passcode, e.g. "
            "https://zoom.us/j/123456789 or https://meet.google.com/abc-defg-hij. "
            "If the link has a passcode (?pwd=...), save the whole link as a Secret block "
            "and name it below instead.",
            examples=["https://zoom.us/j/123456789"],
        ),
    ]
    link_secret: OptionalText = Field(
        default=None,
        json_schema_extra=_EMPTY,
        title="Secret block with the full link",
        description="Name of a Secret block (Blocks -> Secret) whose value is the full "
        "meeting link including its passcode. Leave empty for links without a passcode.",
        examples=["zoom-weekly-standup-link"],
    )
    bot_name: str = Field(
        default="Meeting Recorder",
        min_length=1,
        title="Recorder name",
        description="The name the recorder joins with; attendees see it.",
    )
    join_at: OptionalTime = Field(
        default=None,
        json_schema_extra=_EMPTY,
        title="Join at",
        description="When the recorder should join, with a time zone, e.g. "
        "2026-12-01T15:00:00+01:00. Leave empty to join now.",
    )
    max_meeting_minutes: int = Field(
        default=240,
        ge=10,
        le=300,
        title="Longest meeting (minutes)",
        description="The recorder leaves after this long, even if the meeting goes on.",
    )
    custom_attributes: dict[str, str] = Field(
        default_factory=dict,
        title="Labels",
        description="Labels stored with the meeting in the catalog, as JSON: "
        '{"team": "sales", "customer": "acme"}.',
        examples=[{"team": "sales", "customer": "acme"}],
    )
    composite_video: bool = Field(
        default=True,
        title="Also keep the combined video",
        description="Besides each person's own files, archive the single combined video.",
    )
    request_id: OptionalText = Field(
        default=None,
        json_schema_extra=_EMPTY,
        title="Request id",
        description="Any stable text that names this request, e.g. a calendar event id. "
        "Running the same request id again reuses its recorder instead of sending another.",
    )
    full_link: SkipJsonSchema[SecretStr | None] = Field(default=None, exclude=True)

    @field_validator("meeting_link")
    @classmethod
    def _supported(cls, value: str) -> str:
        value = value.strip()
        if platform_from_link(value) is None:
            raise InvalidMeetingLinkError(
                f"not a meeting link: use an http(s) link on {SUPPORTED_HOSTS}"
            )
        if carries_private_part(value):  # e.g. a percent-encoded "?pwd=" in the path
            raise InvalidMeetingLinkError(
                "use the meeting's address only: the link holds a passcode or another private part"
            )
        return value

    @field_validator("join_at")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        """A join time without a zone is read as UTC, so every worker agrees on it."""
        return None if value is None else as_utc(value)

    @classmethod
    def from_link(cls, link: str, **fields: object) -> MeetingRequest:
        """A request for `link` as a user pastes it: its passcode goes into `full_link`."""
        address = meeting_address(link)
        secret = SecretStr(link.strip()) if address != link.strip() else None
        return cls.model_validate({**fields, "meeting_link": address, "full_link": secret})

    def link(self) -> str:
        """The link the bot is sent to: the full one, passcode included, when known."""
        return self.full_link.get_secret_value() if self.full_link else self.meeting_link

    def run_name(self) -> str:
        """A flow-run name that tells meetings apart: platform and meeting id, recorder
        name, join time (or "now")."""
        when = self.join_at.strftime("%Y-%m-%d %H:%M UTC") if self.join_at else "now"
        return f"{run_label(self.meeting_link)} · {self.bot_name} · {when}"


def as_utc(moment: dt.datetime) -> dt.datetime:
    """A plain, aware UTC `datetime` (naive is read as UTC).

    Also turns Prefect's pendulum `DateTime` into a plain `datetime`: pendulum's
    `DateTime + timedelta` came back without a zone (pendulum 3.3), so normalize at the edge.
    """
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    utc = aware.astimezone(dt.UTC)
    return dt.datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, dt.UTC
    )


def idempotency_key(request: MeetingRequest, *, run_scope: str, new_bot: bool = False) -> str:
    """Derive the create-bot idempotency key from the request, once.

    With a request_id or a join time the key depends only on the request (`request_key`),
    so any re-run of that request replays the same bot. Without either (an ad-hoc "join
    now"), the run scope (the flow run id) keeps retries of this run on one bot; a re-run
    finds this key again through the intent the run wrote before its create call
    (`meetstream_catalog.catalog.pending.same_request`), while the same link once that
    meeting is over (the same room next week) gets a new bot. `new_bot`: the run's own key
    whatever the request says, so MeetStream creates another bot (`--new-bot`).
    """
    key = None if new_bot else request_key(request)
    return key or str(uuid.uuid5(_KEY_NAMESPACE, f"run|{request.meeting_link}|{run_scope}"))


def request_key(request: MeetingRequest) -> str | None:
    """The key every invocation of this request derives alike: from its request_id, else
    from its link and join time; None for a "join now" request (see `idempotency_key`)."""
    if request.request_id:
        basis = f"request|{request.request_id}"
    elif request.join_at is not None:
        basis = f"link|{request.meeting_link}|{request.join_at.isoformat()}"
    else:
        return None
    return str(uuid.uuid5(_KEY_NAMESPACE, basis))
