"""``ahead`` fetches the next page while the current one is processed, and nothing else changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from app.sync.prefetch import ahead


class Source:
    """Pages 0..n-1; records when each fetch starts and ends, and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.log: list[str] = []
        self.closed = False
        self.in_flight = 0
        self.max_in_flight = 0

    async def pages(self) -> AsyncIterator[int]:
        try:
            for i in range(self.n):
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                self.log.append(f"fetch {i}")
                await asyncio.sleep(0.01)
                self.in_flight -= 1
                if i == self.fail_at:
                    raise RuntimeError(f"page {i} failed")
                self.log.append(f"fetched {i}")
                yield i
        finally:
            self.closed = True


async def test_next_page_is_fetched_while_the_current_one_is_processed() -> None:
    source = Source(3)
    seen = []
    async for page in ahead(source.pages()):
        await asyncio.sleep(0.02)
        source.log.append(f"stored {page}")
        seen.append(page)
    assert seen == [0, 1, 2]
    # page N+1 is requested before page N is stored, and received while it is being stored
    assert source.log[:5] == ["fetch 0", "fetched 0", "fetch 1", "fetched 1", "stored 0"]
    assert source.max_in_flight == 1  # never two requests at once
    assert source.closed


async def test_a_fetch_error_surfaces_after_the_pages_before_it() -> None:
    source = Source(5, fail_at=2)
    seen = []
    with pytest.raises(RuntimeError, match="page 2 failed"):
        async for page in ahead(source.pages()):
            seen.append(page)
    assert seen == [0, 1]
    assert source.closed


async def test_stopping_early_cancels_the_pending_fetch_and_closes_the_source() -> None:
    source = Source(10)
    async with contextlib.aclosing(ahead(source.pages())) as pages:
        async for page in pages:
            if page == 1:
                break
    assert source.closed
    assert "fetched 3" not in source.log


async def test_a_store_error_cancels_the_prefetch() -> None:
    source = Source(10)
    reader = ahead(source.pages())
    with pytest.raises(ValueError):
        async for _page in reader:
            raise ValueError("store failed")
    await reader.aclose()
    assert source.closed and "fetched 2" not in source.log


async def test_depth_two_reads_two_pages_ahead_one_request_at_a_time() -> None:
    source = Source(5)
    seen = []
    async for page in ahead(source.pages(), depth=2):
        if page == 0:
            await asyncio.sleep(0.05)  # long enough for two fetches of 0.01 s
            # while page 0 is processed, pages 1 and 2 are fetched, and no further
            assert "fetched 2" in source.log
            assert "fetch 3" not in source.log
        source.log.append(f"stored {page}")
        seen.append(page)
    assert seen == [0, 1, 2, 3, 4]
    assert source.max_in_flight == 1
    assert source.closed


async def test_an_error_after_pages_read_ahead_comes_after_them() -> None:
    source = Source(5, fail_at=2)
    seen = []
    with pytest.raises(RuntimeError, match="page 2 failed"):
        async for page in ahead(source.pages(), depth=3):
            await asyncio.sleep(0.03)  # the failing fetch happens meanwhile
            seen.append(page)
    assert seen == [0, 1]
    assert source.closed
