"""Meeting links: which platform a link is on, and its address without what may be secret.

The trap guarded here is the passcode. A Zoom link carries it in `?pwd=`, other platforms in
other query parts, `;` parameters or user info, and whatever is stored in a run's
parameters, a log or the catalog is readable by many. `meeting_address` keeps only the
scheme, host, port and path (which identify the meeting), and `FORM_RULES` are the JSON
schema rules that refuse anything else in a form field. The platform is derived from the
host alone (`platform_from_link`), never from the path or a query.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx
from pydantic import JsonValue
from pydantic.config import JsonDict

SUPPORTED_HOSTS = (
    "zoom.us (and its subdomains), meet.google.com, teams.microsoft.com, teams.live.com"
)
# A supported host, as `platform_from_link` (lower case).
HOST_PATTERN = (
    r"^https?://(([a-z0-9-]+\.)*zoom\.us|meet\.google\.com|teams\.microsoft\.com|teams\.live\.com)"
    r"(:[0-9]+)?(/|$)"
)
# Where passcodes live, as `carries_private_part`: a query, fragment, user info or `;`
# parameter, also percent-encoded (`%3F`, `%23`, `%3B`, `%3D`, `%26`).
PRIVATE_PATTERN = r"[?#@;]|%(3[fFbBdD]|23|26)"
# A Prefect block name is a slug (letters, digits, dashes): none of a link's punctuation.
LINK_MARKS = "/?#@;=:%"


def looks_like_link(text: str) -> bool:
    """`text` (given as a Secret block's name) is a link pasted into the wrong field."""
    return any(mark in text for mark in LINK_MARKS)


def _refuse(field: str, pattern: str, *, matching: bool, rule: str) -> JsonDict:
    """A JSON schema rule on `meeting_link` whose refusal never repeats the link.

    Every JSON schema keyword on a value (`pattern`, `format`, `not`, ...) words its error
    with the value, and Prefect shows that error (a passcode included) in the UI and in the
    409 answer. `required` words its error with a property name only: so when the link
    matches (or fails) `pattern`, the rule requires a property whose name is the sentence
    to show. The sentence starts with the field's name and a space and holds no quote: the
    UI files a `required` error under the field named by its first word, next to its box.
    """
    test: JsonDict = {"type": "string", "pattern": pattern}
    return {
        "if": {
            "properties": {field: test if matching else {"not": test}},
            "required": [field],
        },
        "then": {"required": [rule]},
    }


# The form's checks of `meeting_link`, on the server, before a run is stored.
FORM_RULES: list[JsonValue] = [
    _refuse(
        "meeting_link",
        PRIVATE_PATTERN,
        matching=True,
        rule="meeting_link holds a passcode or another private part: enter the meeting "
        "address only, save the whole link as a Secret block and give its name in link_secret",
    ),
    _refuse(
        "meeting_link",
        HOST_PATTERN,
        matching=False,
        rule="meeting_link is not a meeting: use an http(s) link on zoom.us, "
        "meet.google.com, teams.microsoft.com or teams.live.com",
    ),
    # A Secret block's name is a slug; a link pasted here would be stored as it is.
    _refuse(
        "link_secret",
        f"[{LINK_MARKS}]",  # no escapes needed inside a class, in Python or ECMA
        matching=True,
        rule="link_secret is the name of a Secret block, not a link: save the whole link "
        "as a Secret block (Blocks, Secret) and give the name of the block here",
    ),
]


class InvalidMeetingLinkError(ValueError):
    """The meeting link is not a Zoom, Google Meet or Teams link; the message says why."""


def meeting_address(link: str) -> str:
    """The link without what may hold a secret: user info, `;` parameters, query, fragment."""
    try:
        url = httpx.URL(link.strip())
    except httpx.InvalidURL:
        url = httpx.URL()
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidMeetingLinkError(
            f"not a meeting link: use an http(s) link on {SUPPORTED_HOSTS}"
        )
    path = url.path.split(";", 1)[0]
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{path}"


def carries_private_part(link: str) -> bool:
    """Whether `link` holds more than a meeting's address: a query, fragment, user info or
    `;` parameter, also percent-encoded in the path (`/j/1%3Fpwd%3D...`; an encoded `@` is
    fine: Teams paths hold one)."""
    text = link.strip()
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return any(mark in text for mark in "?#@;")
    path = unquote(url.raw_path.split(b"?", 1)[0].decode("ascii", "replace"))
    return bool(url.query or url.fragment or url.userinfo or "?" in text or "#" in text) or any(
        mark in path for mark in "?#;=&"
    )


def public_part(link: str) -> str:
    """What of `link` may be stored: its address, cut before an encoded private part
    (`/j/1%3Fpwd%3D...` -> `/j/1`); for a text that is no link, up to its first `?#@;`."""
    text = link.strip()
    try:
        address = meeting_address(text)
    except InvalidMeetingLinkError:
        return re.split(r"[?#@;]", text, maxsplit=1)[0]
    return re.split(r"[?#;=&]", address, maxsplit=1)[0]  # the address's path is decoded


def run_label(link: str) -> str:
    """Platform and meeting id for run names and log lines: `zoom 1000000001`,
    `google_meet abc-defg-hij`, `teams 19:meeting_NzQ0ZjM4YjQt…` (the longer of the
    address's last two path segments, at most 24 characters)."""
    platform = platform_from_link(link) or "meeting"
    segments = [p for p in httpx.URL(public_part(link)).path.split("/") if p]
    meeting = max(reversed(segments[-2:]), key=len) if segments else ""
    if len(meeting) > 24:
        meeting = meeting[:23] + "…"
    return f"{platform} {meeting}".strip()


def platform_from_link(link: str) -> str | None:
    """zoom / google_meet / teams from an http(s) link's host, None when unsupported."""
    try:
        url = httpx.URL(link)
    except httpx.InvalidURL:
        return None
    if url.scheme not in ("http", "https"):
        return None
    host = (url.host or "").casefold()
    if host == "zoom.us" or host.endswith(".zoom.us"):
        return "zoom"
    if host == "meet.google.com":
        return "google_meet"
    if host in ("teams.microsoft.com", "teams.live.com"):
        return "teams"
    return None
