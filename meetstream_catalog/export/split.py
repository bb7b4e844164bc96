"""Train / development / test subsets of meetings in which no speaker is in two subsets.

Responsibility: `split`, from each meeting's speaker identities to a subset per meeting.
Plain Python, no I/O.

Traps guarded against:
- a speaker in two subsets: meetings that share a speaker, directly or through a chain
  of meetings, form one group (a connected component) and a group is never cut;
- a split that depends on the order rows come in: groups are taken largest first, ties
  broken by a hash of their smallest uri, never by arrival, so the same meetings always
  give the same subsets (a hash, not the uri itself: ids that sort by time would send the
  newest meetings to test);
- shares counted in groups instead of meetings: each group goes to the subset furthest
  below its share of the meetings (80/10/10; train first on a tie), so ten single-meeting
  groups give 8/1/1 and a large group fills train before small ones even out the rest.
  One group holding every meeting puts them all in train and leaves development and test
  empty (`Split.single_group` says so, for the caller's log line).

The subsets are a function of the meetings exported: when the catalog grows, a group can
move to another subset, so keep an export's lists to freeze a test set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

Subset = Literal["train", "development", "test"]
SUBSETS: tuple[Subset, ...] = ("train", "development", "test")
# Each subset's share of the meetings, in tenths: 80/10/10.
_TENTHS: dict[Subset, int] = {"train": 8, "development": 1, "test": 1}


@dataclass
class Split:
    """The uris of each subset, sorted, and how the meetings grouped."""

    subsets: dict[Subset, list[str]] = field(default_factory=lambda: {s: [] for s in SUBSETS})
    groups: int = 0
    largest_group: int = 0

    @property
    def single_group(self) -> bool:
        """True when more than one meeting and all in one group (all in train)."""
        return self.groups == 1 and self.largest_group > 1


def _groups(speakers: Mapping[str, Collection[str]]) -> list[list[str]]:
    """Meetings linked by a shared speaker, transitively (union-find on uris)."""
    parent = {uri: uri for uri in speakers}

    def root(uri: str) -> str:
        while parent[uri] != uri:
            parent[uri] = parent[parent[uri]]
            uri = parent[uri]
        return uri

    first_with: dict[str, str] = {}
    for uri, identities in speakers.items():
        for identity in identities:
            other = first_with.setdefault(identity, uri)
            a, b = root(uri), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = {}
    for uri in speakers:
        members.setdefault(root(uri), []).append(uri)
    return [sorted(group) for group in members.values()]


def _order(group: list[str]) -> tuple[int, str, str]:
    return -len(group), hashlib.sha256(group[0].encode()).hexdigest(), group[0]


def split(speakers: Mapping[str, Collection[str]]) -> Split:
    """Subsets for the meetings `{uri: speaker identities}`: a meeting with no speakers
    is a group of its own. Returns a `Split`; the same mapping, in any order, gives the
    same one."""
    groups = sorted(_groups(speakers), key=_order)
    out = Split(groups=len(groups), largest_group=max(map(len, groups), default=0))
    total = len(speakers)
    for group in groups:
        # How far below its share each subset is, in tenths of a meeting; max() keeps the
        # first of equals, and SUBSETS starts with train.
        subset = max(SUBSETS, key=lambda s: _TENTHS[s] * total - 10 * len(out.subsets[s]))
        out.subsets[subset].extend(group)
    for uris in out.subsets.values():
        uris.sort()
    return out
