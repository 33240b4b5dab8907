"""Small asyncio helpers for the paging toolkit (and the sync pipeline built on it)."""

from __future__ import annotations

import asyncio
from typing import Any


async def settle_unwanted(task: asyncio.Future[Any], *, cancel: bool) -> None:
    """Wait for a task whose result nobody will take (work started ahead that is no longer wanted, or
    finished only so that it is not abandoned half-way): cancelled first if ``cancel``, its own error
    retrieved so asyncio does not log it as never retrieved. Our own cancellation still propagates.
    """
    if cancel and not task.done():
        task.cancel()
    await asyncio.wait([task])  # never raises the task's error, but does our cancellation
    if not task.cancelled():
        task.exception()
