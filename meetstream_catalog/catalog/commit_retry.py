"""Retrying a catalog commit that lost an optimistic-concurrency race.

Responsibility: `retry_conflicts(action, what=...)`, which every catalog commit goes through
(the writers, the `bot_events` appends, maintenance, migration): the project's one retry
primitive (`meetstream_catalog.retry.retrying`) with the catalog's judge of what is a lost
race, and the error it raises when its time budget is spent. No caller has a loop of its
own. One loop does sit beneath this one: delta-rs' own (`max_commit_retries`, 20 in
`properties.COMMIT`), which commits again at the next log version when the commits that won
do not conflict with ours. This loop runs the whole action again only once delta-rs gives
up and raises (a real conflict, or its 20 tries spent).

Traps guarded against:
- retrying what is not a race: only delta-rs' CommitFailedError, and the DeltaErrors whose
  message says conflict (`is_conflict`), are tried again; anything else propagates at once,
  since the same commit would fail the same way;
- writers that lost together colliding again together: the pauses are fully jittered and
  grow exponentially up to 2 s, within a time budget (`COMMIT_BUDGET_SECONDS`);
- an anonymous failure: the error after the last attempt names what was committed (`what`:
  the table and the bot), and nothing of the failed commit is visible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from deltalake.exceptions import CommitFailedError, DeltaError

from meetstream_catalog.retry import Backoff, Spent, retrying

__all__ = [
    "COMMIT_BUDGET_SECONDS",
    "CatalogConflictError",
    "is_conflict",
    "retry_conflicts",
]

T = TypeVar("T")
_CONFLICT_WORDS = ("conflict", "concurrent", "already exists", "transaction failed")


class CatalogConflictError(RuntimeError):
    """A commit still conflicted after every retry; the message names table and bot.

    Nothing of the failed commit is visible; re-running the step is safe.
    """


# Seconds a commit keeps retrying lost races: far beyond what a fleet's writers take to
# get through one table (group commit puts a process's bots into one commit per table).
COMMIT_BUDGET_SECONDS = 30.0
# ...and at least this many tries: a lost race means another writer committed (the fleet
# progresses), but against a slow store (one overloaded S3 emulator: 5-15 s per attempt)
# 30 s held only 2-4 tries, and a capture failed for a race it would have won next.
# A writer may lose once to every other concurrent writer (a dozen flow-run processes).
COMMIT_MIN_TRIES = 20
_BACKOFF = Backoff(initial=0.05, cap=2.0)


def is_conflict(error: BaseException) -> bool:
    """Whether `error` is a lost optimistic-concurrency race (safe to retry as is)."""
    if isinstance(error, CommitFailedError):
        return True
    text = str(error).lower()
    return isinstance(error, DeltaError) and any(w in text for w in _CONFLICT_WORDS)


def retry_conflicts(
    action: Callable[[], T], *, what: str, budget: float = COMMIT_BUDGET_SECONDS
) -> T:
    """Run `action` and return its result, retrying commit conflicts for `budget` seconds
    and at least `COMMIT_MIN_TRIES` times.

    Raises CatalogConflictError naming `what` once the budget is spent, and any other error
    of `action` at once.
    """

    def gave_up(error: Exception, spent: Spent) -> None:
        raise CatalogConflictError(
            f"{what}: commit still conflicted after {spent.tries} attempts "
            f"({spent.seconds:.1f} s): {error}"
        ) from error

    return retrying(
        action,
        on=is_conflict,
        budget=budget,
        what=what,
        backoff=_BACKOFF,
        gave_up=gave_up,
        min_tries=COMMIT_MIN_TRIES,
    )
