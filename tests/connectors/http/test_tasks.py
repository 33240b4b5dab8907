"""settle_unwanted: a task nobody will take the result of is ended and its error kept quiet."""

from __future__ import annotations

import asyncio

import pytest

from connectors.http.tasks import settle_unwanted


async def test_cancel_stops_work_started_ahead() -> None:
    task = asyncio.ensure_future(asyncio.sleep(60))
    await settle_unwanted(task, cancel=True)
    assert task.cancelled()


async def test_without_cancel_the_task_finishes_and_its_error_is_retrieved_not_raised() -> None:
    finished = []

    async def write() -> None:
        await asyncio.sleep(0.01)
        finished.append(True)
        raise RuntimeError("write failed")

    task = asyncio.ensure_future(write())
    await settle_unwanted(task, cancel=False)  # does not raise
    assert finished == [True]
    assert isinstance(task.exception(), RuntimeError)


async def test_our_own_cancellation_still_propagates() -> None:
    slow = asyncio.ensure_future(asyncio.sleep(60))
    waiter = asyncio.ensure_future(settle_unwanted(slow, cancel=False))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    slow.cancel()
