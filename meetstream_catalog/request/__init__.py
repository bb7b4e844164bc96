"""What a user asks for: one meeting request (`meeting`), the links it accepts (`links`),
the scheduled batch's meeting lists (`meeting_list`) and the checks before a bot is created
(`preflight`)."""

from meetstream_catalog.request.links import (
    SUPPORTED_HOSTS,
    InvalidMeetingLinkError,
    meeting_address,
    platform_from_link,
)
from meetstream_catalog.request.meeting import (
    MeetingRequest,
    as_utc,
    idempotency_key,
    request_key,
)

__all__ = [
    "SUPPORTED_HOSTS",
    "InvalidMeetingLinkError",
    "MeetingRequest",
    "as_utc",
    "idempotency_key",
    "meeting_address",
    "platform_from_link",
    "request_key",
]
