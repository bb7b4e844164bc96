"""What a run reads from Prefect: the API key's Secret block and a meeting's link block.

The trap guarded here is re-deriving at every step: a flow calls `load_settings` once and
hands the result on. A terminal run (`meetstream-catalog capture`) has already read its
settings and checked them (preflight) before Prefect starts; it hands them to the flow with
`use_settings`, so the flow neither reads the environment again nor checks twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import cast

from prefect.blocks.system import Secret
from pydantic import SecretStr

from meetstream_catalog.request import MeetingRequest
from meetstream_catalog.roots import Root
from meetstream_catalog.settings import Settings

SECRET_BLOCK = "meetstream-api-key"  # noqa: S105 - a block name, not a secret


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
    return RunSettings.of(await with_secret_key(Settings()))


async def with_secret_key(settings: Settings) -> Settings:
    """`settings` with the API key from the Secret block if the environment has none."""
    if settings.api_key is not None:
        return settings
    try:
        secret = cast("Secret[str]", await Secret.aload(SECRET_BLOCK))
    except ValueError:  # no such block: the error at first use says what to set
        return settings
    value: object = secret.get()
    return settings.model_copy(update={"api_key": SecretStr(str(value))})


# The Secret block a fan-out run keeps a meeting's full link in, named by its key.
LINK_SECRET = "meetstream-link-{key}"  # noqa: S105 - a name pattern, not a secret


async def resolve_link(request: MeetingRequest) -> MeetingRequest:
    """The request with its full link loaded from its `link_secret` block, if it names one."""
    if not request.link_secret or request.full_link is not None:
        return request
    try:
        block = cast("Secret[str]", await Secret.aload(request.link_secret))
    except ValueError as exc:
        raise ValueError(
            f"No Secret block named {request.link_secret!r}: create it (Blocks -> Secret) "
            "with the full meeting link as its value, or clear the field"
        ) from exc
    full = MeetingRequest.from_link(
        str(block.get()), **request.model_dump(exclude={"meeting_link"})
    )
    if full.meeting_link != request.meeting_link:
        raise ValueError(
            f"The link in Secret block {request.link_secret!r} is for another meeting than "
            f"{request.meeting_link}"
        )
    return full
