"""Read ahead: the vendor prepares the next pages while we store the current one.

A sync alternates between waiting for the vendor and writing to the store; overlapping the two nearly
halves a full sync's wall time when both take similar time. Only one request is ever in flight per
stream, so rate limits and the order of checkpoints are unchanged: page N's checkpoint is written after
page N is stored, whatever is already fetched, and a crash refetches the pages after N from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, TypeVar

from connectors.http.tasks import settle_unwanted

T = TypeVar("T")

_END = object()


async def ahead(items: AsyncIterator[T], depth: int = 1) -> AsyncGenerator[T, None]:
    """Yield ``items``, fetching up to ``depth`` of the next ones while the caller works on the
    current one.

    One fetch at a time, in order (``items`` is read by a single task). An error while fetching is
    raised when the caller reaches it, after the items before it, as without prefetching; when the
    caller stops early, the fetch under way is cancelled and ``items`` closed.
    """
    fetched: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue()
    slots = asyncio.Semaphore(depth)  # items fetched or being fetched that the caller has not taken

    async def fetch() -> None:
        while True:
            await slots.acquire()
            try:
                item = await anext(items)
            except StopAsyncIteration:
                fetched.put_nowait((_END, None))
                return
            except Exception as error:  # handed to the caller, in order
                fetched.put_nowait((_END, error))
                return
            fetched.put_nowait((item, None))

    fetcher = asyncio.create_task(fetch())
    try:
        while True:
            item, error = await fetched.get()
            if error is not None:
                raise error
            if item is _END:
                return
            slots.release()  # taken: the next fetch may start while the caller works on this one
            yield item
    finally:
        await settle_unwanted(fetcher, cancel=True)  # its errors went through the queue
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()
