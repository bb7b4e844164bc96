"""The keys that display names and platform names are compared by.

Responsibility: `normalize_name`, the join key of a participant's display name (the
`participant_key` column of every table that has one), and `normalize_platform`, one
spelling per meeting platform. Plain Python.

The trap guarded against is a key that merges two people, or splits one. Unicode NFC,
casefold and collapsed whitespace make `José  DÍAZ` and `josé díaz` one key; invisible
characters (zero-width spaces, ...) are kept on purpose, because stripping them could make
two different names one key, and a false merge cannot be undone downstream.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_name", "normalize_platform"]

_PLATFORM_ALIASES = {
    "zoom": "zoom",
    "googlemeet": "google_meet",
    "meet": "google_meet",
    "teams": "teams",
    "microsoftteams": "teams",
    "msteams": "teams",
}


def normalize_name(name: str) -> str:
    """The join key of a display name: NFC, casefold, whitespace collapsed, stripped."""
    # casefold can produce non-NFC output (e.g. for some Greek/Cherokee letters): NFC again.
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
    # str.split() without arguments splits on every Unicode whitespace (NBSP, tabs, newlines,
    # U+2028...), which is exactly the set to collapse. Zero-width characters are not
    # whitespace for Python and are kept on purpose (see the module docstring).
    return " ".join(folded.split())


def normalize_platform(platform: str | None) -> str | None:
    """'Google Meet', 'google_meet', 'meet' -> 'google_meet'; unknown values pass through."""
    if platform is None:
        return None
    compact = re.sub(r"[\s_\-.]", "", platform.casefold())
    return _PLATFORM_ALIASES.get(compact, platform.strip().casefold() or None)
