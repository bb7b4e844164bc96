"""A meeting's data deleted at MeetStream, for an erasure: the same call delete-after-archive
makes (`DELETE /bots/{id}/delete`), through the project's one client.

The trap guarded against: an erasure that fails because MeetStream already deleted the
bot (a 404 for a bot it no longer knows): that is the wanted state, so it counts as done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from meetstream_catalog.meetstream.client import MeetStreamClient
from meetstream_catalog.meetstream.errors import NotFoundError
from meetstream_catalog.settings import Settings

__all__ = ["meetstream_delete"]


def meetstream_delete(settings: Settings) -> Callable[[str], bool]:
    """A blocking `delete(bot_id) -> bool` (False: already deleted) for `run_erasure`.

    Call it from a thread without a running event loop (it runs its own). Raises the
    client's MeetStreamError for any other failure, and asks for MEETSTREAM_API_KEY when
    none is set.
    """

    def delete(bot_id: str) -> bool:
        async def call() -> bool:
            async with MeetStreamClient(settings=settings) as client:
                try:
                    await client.delete_bot_data(bot_id)
                except NotFoundError:
                    return False  # already deleted (or never there): nothing left to remove
                return True

        return asyncio.run(call())

    return delete
