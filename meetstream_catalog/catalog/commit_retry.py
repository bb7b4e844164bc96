"""Retrying a catalog commit that lost an optimistic-concurrency race.

Responsibility: `retry_conflicts(action, what=...)`, the one loop every catalog commit goes
through (the writers, the `bot_events` appends, maintenance, migration), and the error it
raises when it gives up. When the project-wide retry primitive (`meetstream_catalog.retry`)
lands, it replaces this module alone: no caller has a loop of its own.

Traps guarded against:
- retrying what is not a race: only delta-rs' CommitFailedError, and the DeltaErrors whose
  message says conflict (`is_conflict`), are tried again; anything else propagates at once,
  since the same commit would fail the same way;
- writers that lost together colliding again together: the pauses are jittered and grow
  exponentially, bounded in attempts and in the longest pause;
- an anonymous failure: the error after the last attempt names what was committed (`what`:
  the table and the bot), and nothing of the failed commit is visible.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from deltalake.exceptions import CommitFailedError, DeltaError

__all__ = [
    "DEFAULT_RETRY",
    "CatalogConflictError",
    "RetryPolicy",
    "is_conflict",
    "retry_conflicts",
]

T = TypeVar("T")
_CONFLICT_WORDS = ("conflict", "concurrent", "already exists", "transaction failed")


class CatalogConflictError(RuntimeError):
    """A commit still conflicted after every retry; the message names table and bot.

    Nothing of the failed commit is visible; re-running the step is safe.
    """


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff for commits that lost a race."""

    attempts: int = 8
    base_seconds: float = 0.05
    max_seconds: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def pause(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        return self.rng() * min(self.max_seconds, self.base_seconds * 2.0**attempt)


DEFAULT_RETRY = RetryPolicy()


def is_conflict(error: BaseException) -> bool:
    """Whether `error` is a lost optimistic-concurrency race (safe to retry as is)."""
    if isinstance(error, CommitFailedError):
        return True
    text = str(error).lower()
    return isinstance(error, DeltaError) and any(w in text for w in _CONFLICT_WORDS)


def retry_conflicts(
    action: Callable[[], T], *, what: str, policy: RetryPolicy = DEFAULT_RETRY
) -> T:
    """Run `action` and return its result, retrying commit conflicts.

    Raises CatalogConflictError naming `what` once `policy.attempts` tries conflicted, and
    any other error of `action` at once.
    """
    for attempt in range(policy.attempts):
        try:
            return action()
        except DeltaError as exc:
            if not is_conflict(exc):
                raise
            if attempt + 1 == policy.attempts:
                raise CatalogConflictError(
                    f"{what}: commit still conflicted after {policy.attempts} attempts: {exc}"
                ) from exc
            policy.sleep(policy.pause(attempt))
    raise AssertionError("unreachable: policy.attempts must be >= 1")
