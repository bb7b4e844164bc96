"""Where a calendar event keeps its meeting link, and which of its links is the meeting.

Calendars put the link in different places: Google in `X-GOOGLE-CONFERENCE` (and the
description), Outlook in `X-MICROSOFT-SKYPETEAMSMEETINGURL` (Teams) or
`X-MICROSOFT-ONLINEMEETINGEXTERNALLINK` (and, for a Teams invite with an empty plain
description, the HTML one, `X-ALT-DESC`), many people in `LOCATION`, `URL` or the
description's text. The trap guarded here is the first URL of a description: it is often a
help page, a dial-in page or a tracking redirect. A link counts only when its host is a
meeting platform's (`links.platform_from_link`: Zoom with vanity subdomains such as
acme.zoom.us, Google Meet, Teams), and the dedicated properties are read before free text.
"""

from __future__ import annotations

import html
import re

from icalendar import Component

from meetstream_catalog.request.links import platform_from_link

__all__ = ["LINK_PROPERTIES", "find_link"]

# Most specific first: a conference property names the meeting; free text may name others.
LINK_PROPERTIES = (
    "X-GOOGLE-CONFERENCE",
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGEXTERNALLINK",
    # Skype for Business wrote `conf:sip:...` here (no URL, then skipped); some Teams
    # tenants write the join URL.
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
    "URL",
    "LOCATION",
    "DESCRIPTION",
    # Outlook's HTML description: a Teams invite may leave the plain one empty.
    "X-ALT-DESC",
)
# An http(s) URL in free text, up to whitespace or the brackets and quotes text wraps it in
# (Outlook writes `<https://teams.microsoft.com/...>` in its descriptions).
_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}|\\^`]+", re.IGNORECASE)
_TRAILING = ".,;:!"


def find_link(event: Component) -> str | None:
    """The event's meeting link (passcode included, as written), or None without one."""
    for name in LINK_PROPERTIES:
        for text in _values(event.get(name)):
            value = html.unescape(text) if name == "X-ALT-DESC" else text  # `&amp;` in a query
            for candidate in _URL.findall(value):
                link = str(candidate).rstrip(_TRAILING)
                if platform_from_link(link) is not None:
                    return link
    return None


def _values(prop: object) -> list[str]:
    """A property's text values (a property given twice comes as a list)."""
    if prop is None:
        return []
    items = prop if isinstance(prop, list) else [prop]
    return [str(item) for item in items]
