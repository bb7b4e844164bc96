"""What a run reads from Prefect: the API key's Secret block and a meeting's link block.

The trap guarded here is re-deriving at every step: a flow calls `load_settings` once and
hands the result on. A terminal run (`meetstream-catalog capture`) has already read its
settings and checked them (preflight) before Prefect starts; it hands them to the flow with
`use_settings`, so the flow neither reads the environment again nor checks twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from prefect.blocks.system import Secret
from pydantic import SecretStr, ValidationError

from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.request.links import carries_private_part, looks_like_link, public_part
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import TOKEN_KEY_BLOCK, Settings

SECRET_BLOCK = "meetstream-api-key"  # noqa: S105 - a block name, not a secret
MEETINGS_URL_BLOCK = "meetstream-meetings-url"


@dataclass(frozen=True)
class RunSettings:
    """The settings of one run, its two storage roots (derived once, here), and whether the
    edge that built them already checked them."""

    settings: Settings
    media: Root
    catalog: Root
    checked: bool = False

    @classmethod
    def of(cls, settings: Settings, *, checked: bool = False) -> RunSettings:
        return cls(settings, settings.media(), settings.catalog(), checked)


_GIVEN: ContextVar[RunSettings | None] = ContextVar("meetstream_given_settings", default=None)


@contextmanager
def use_settings(settings: Settings, *, checked: bool) -> Iterator[None]:
    """Flows started inside this block use `settings` (checked: preflight already ran)."""
    token = _GIVEN.set(RunSettings.of(settings, checked=checked))
    try:
        yield
    finally:
        _GIVEN.reset(token)


async def load_settings() -> RunSettings:
    """The settings given by the caller, else from the environment; the API key may come
    from the `meetstream-api-key` Secret block."""
    if (given := _GIVEN.get()) is not None:
        return given
    await _refuse_run_roots()
    return RunSettings.of(await with_secret_key(Settings()))


# Where a run's data goes is the operator's choice (the worker's environment), not a run's.
_OPERATOR_ONLY = ("MEETSTREAM_CATALOG_ROOT", "MEETSTREAM_MEDIA_ROOT")


async def _refuse_run_roots() -> None:
    """Refuse a run whose own job variables set a storage root ("Additional options ->
    Job variables" in the run form, or an API client): the worker would pass them to this
    process's environment, and the run would write wherever it asked. (Read from the run's
    context: no API call.)"""
    from prefect.runtime import flow_run

    env = (flow_run.get_job_variables() or {}).get("env") or {}
    asked = sorted(name for name in _OPERATOR_ONLY if name in env)
    if asked:
        raise RequestRefusedError(
            f"this run's job variables set {', '.join(asked)}: storage roots are the "
            "worker's settings, not a run's; start the run without them"
        )


async def with_secret_key(settings: Settings) -> Settings:
    """`settings` with the API key from the Secret block if the environment has none, and,
    once a receiver is configured, the callback token key likewise."""
    update = {}
    if settings.api_key is None and (key := await _block(SECRET_BLOCK)) is not None:
        update["api_key"] = key
    wants_token_key = settings.webhook_url and settings.webhook_token_key is None
    if wants_token_key and (token_key := await _block(TOKEN_KEY_BLOCK)) is not None:
        update["webhook_token_key"] = token_key
    return settings.model_copy(update=update) if update else settings


async def meetings_url(settings: Settings) -> str | None:
    """The scheduled batch's list: MEETSTREAM_MEETINGS_URL, else the Secret block
    `meetstream-meetings-url` (a calendar feed's secret address reads the whole calendar:
    a credential, kept encrypted). Asked for by the batch only: one API call."""
    if settings.meetings_url:
        return settings.meetings_url
    feed = await _block(MEETINGS_URL_BLOCK)
    return feed.get_secret_value() if feed is not None else None


async def _block(name: str) -> SecretStr | None:
    """The value of the Secret block `name`; None without one (the error at first use
    says what to set)."""
    try:
        secret = cast("Secret[str]", await Secret.aload(name))
    except ValueError:
        return None
    value: object = secret.get()
    return SecretStr(str(value))


class RequestRefusedError(ValueError):
    """A run's request cannot be used; the message names the field, never its value."""


async def checked_request(raw: object) -> MeetingRequest:
    """The run's request, validated here rather than by Prefect, and never kept with a
    passcode.

    Prefect validates a flow's parameters before its first line and, when that fails, logs
    every parameter and pydantic's `input`: a passcode pasted into the link field with the
    UI's "Validate parameters" off (or sent through the API) would reach the worker's log.
    So the capture flows take their parameters unvalidated (`validate_parameters=False`)
    and call this first: a link that carries anything beyond the meeting's address
    (query, fragment, user info, `;` parameters) is removed from the run's stored
    parameters, and the run is refused in one line that never repeats it.
    """
    if isinstance(raw, MeetingRequest):  # built in-process (CLI, batch): already checked
        return raw
    if isinstance(raw, dict) and (refusal := _private_part_refusal(raw)):
        await _scrub_link_parameters()
        raise RequestRefusedError(refusal)
    try:
        # `full_link` is this process's own field, never a caller's (refused above).
        return MeetingRequest.model_validate(raw)
    except ValidationError as exc:
        raise RequestRefusedError(
            "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'request'}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_input=False, include_url=False)
            )
        ) from None


def _private_part_refusal(raw: dict[str, Any]) -> str | None:
    """Why `raw` may hold a passcode (never repeating it), or None."""
    link, block = raw.get("meeting_link"), raw.get("link_secret")
    if isinstance(link, str) and carries_private_part(link):
        return (
            "meeting_link: the link carries a passcode or other private part, and a run's "
            "parameters are stored in plain text, so it was removed from this run. Save the "
            "full link as a Secret block (Blocks -> Secret) and give the block's name in "
            "link_secret; put only the meeting's address in meeting_link."
        )
    if isinstance(block, str) and looks_like_link(block):
        return (
            "link_secret: this is the name of a Secret block, not a link; the link was "
            "removed from this run. Save the full link as a Secret block (Blocks -> Secret) "
            "and give the block's name here."
        )
    if raw.get("full_link") is not None:
        return "full_link: not a parameter; it was removed from this run. Use link_secret."
    return None


async def _scrub_link_parameters() -> None:
    """Cut every meeting link in this flow run's stored parameters to its address, and
    drop a link given as a block name or as `full_link`."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    if run_id is None:
        return

    def scrub(value: object) -> object:
        if isinstance(value, dict):
            return {
                k: (
                    public_part(v)
                    if k == "meeting_link" and isinstance(v, str)
                    else ""
                    if k == "link_secret" and isinstance(v, str) and looks_like_link(v)
                    else scrub(v)
                )
                for k, v in value.items()
                if k != "full_link"
            }
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    stored = flow_run.get_parameters()  # as the server stored them (not validated)
    async with get_client() as client:
        await client.update_flow_run(UUID(run_id), parameters=cast(dict[str, Any], scrub(stored)))


# The Secret block a fan-out run keeps a meeting's full link in, named by its key. Only
# blocks of this name are ever deleted by the product (`forget_link`, `forget_stale_links`):
# a block a person named in the form is theirs.
LINK_SECRET = "meetstream-link-{key}"  # noqa: S105 - a name pattern, not a secret
_LINK_PREFIX = LINK_SECRET.split("{", 1)[0]


def link_gone(request: MeetingRequest) -> bool:
    """The request names a fan-out link block that `forget_link` already deleted."""
    name = request.link_secret
    return bool(name and name.startswith(_LINK_PREFIX) and request.full_link is None)


async def forget_link(request: MeetingRequest | None) -> None:
    """Delete the fan-out's Secret block with this request's full link once its bot exists
    (and is recorded): the passcode is never needed again, so it is not kept."""
    name = request.link_secret if request is not None else None
    if not name or not name.startswith(_LINK_PREFIX):
        return
    try:
        await Secret.adelete(name)
    except ValueError:  # already gone: a re-run after an earlier one deleted it
        return
    except Exception as exc:  # noqa: BLE001 - the capture goes on; maintenance retries
        logging.getLogger(__name__).warning(
            "Could not delete Secret block %s (%s); catalog maintenance removes it after a day",
            name,
            type(exc).__name__,
        )


async def forget_stale_links(older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Delete the fan-out's link blocks left by runs that crashed before their bot existed
    (or could not delete them), once they are `older_than`; how many."""
    from prefect.client.orchestration import get_client

    cutoff = dt.datetime.now(dt.UTC) - older_than
    async with get_client() as client:
        blocks = await client.read_block_documents_by_type("secret", include_secrets=False)
        stale = [
            b
            for b in blocks
            if b.name and b.name.startswith(_LINK_PREFIX) and b.updated and b.updated <= cutoff
        ]
        for block in stale:
            await client.delete_block_document(block.id)
    return len(stale)


async def resolve_link(request: MeetingRequest) -> MeetingRequest:
    """The request with its full link loaded from its `link_secret` block, if it names one."""
    if not request.link_secret or request.full_link is not None:
        return request
    try:
        block = cast("Secret[str]", await Secret.aload(request.link_secret))
    except ValueError as exc:
        if request.link_secret.startswith(_LINK_PREFIX):
            # Deleted once its bot existed: the caller finds that bot, or refuses.
            return request
        raise RequestRefusedError(
            f"No Secret block named {request.link_secret!r}: create it (Blocks -> Secret) "
            "with the full meeting link as its value, or clear the field"
        ) from exc
    full = MeetingRequest.from_link(
        str(block.get()), **request.model_dump(exclude={"meeting_link"})
    )
    if full.meeting_link != request.meeting_link:
        raise RequestRefusedError(
            f"The link in Secret block {request.link_secret!r} is for another meeting than "
            f"{request.meeting_link}"
        )
    return full
