"""Read one page ahead: the vendor prepares page N+1 while we store page N.

A sync alternates between waiting for the vendor and writing to the store; overlapping the two nearly
halves a full sync's wall time when both take similar time. Only one request is ever in flight per
stream, so rate limits and the order of checkpoints are unchanged: page N's checkpoint is written after
page N is stored, whatever is already fetched, and a crash refetches page N+1 from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


async def _next(items: AsyncIterator[T]) -> T | object:
    try:
        return await anext(items)
    except StopAsyncIteration:  # a Task cannot carry StopAsyncIteration out cleanly
        return _END


async def ahead(items: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Yield ``items``, fetching the next one while the caller works on the current one.

    An error while fetching the next item is raised when the caller asks for it, as without
    prefetching; when the caller stops early, the pending fetch is cancelled and ``items`` closed.
    """
    pending: asyncio.Task[T | object] = asyncio.ensure_future(_next(items))
    try:
        while True:
            item = await pending
            if item is _END:
                return
            pending = asyncio.ensure_future(_next(items))
            yield item  # type: ignore[misc]
    finally:
        if not pending.done():
            pending.cancel()
        await asyncio.wait([pending])  # never raises the fetch's own error, but does our cancellation
        if not pending.cancelled():
            pending.exception()  # retrieved: the caller stopped, so nobody wants it
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()
