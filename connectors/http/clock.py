"""Time sources for the limiter, the retry layer and OAuth expiry, injectable so nothing waits for real.

``SystemClock`` is real time. ``ScaledClock(scale=60)`` makes a vendor minute pass in one real second,
so a benchmark can run a per-minute quota at full speed against an emulator that scales time the
same way. ``FakeClock`` never sleeps: it jumps forward and records each requested wait, so tests assert
on *what was asked* instead of on wall-clock durations.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Where the HTTP layer reads time and how it waits."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for pacing)."""
        ...

    def time(self) -> float:
        """Unix epoch seconds (for vendor headers that carry absolute reset times)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Real time."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Time that runs ``scale`` times faster than real time.

    Both readings and sleeps are scaled, so a limiter configured with the vendor's real quota
    (700 per 60 s) behaves identically, only ``scale`` times sooner.
    """

    def __init__(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self._mono0 = time.monotonic()
        self._wall0 = time.time()

    def monotonic(self) -> float:
        return self._mono0 + (time.monotonic() - self._mono0) * self.scale

    def time(self) -> float:
        return self._wall0 + (time.monotonic() - self._mono0) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)


class FakeClock:
    """A clock that only moves when slept on (or ``advance``d); records every sleep.

    Args:
        start: Initial monotonic reading.
        epoch: Initial wall-clock reading (Unix seconds).
    """

    def __init__(self, start: float = 0.0, epoch: float = 1_700_000_000.0) -> None:
        self.now = start
        self._epoch_offset = epoch - start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + self._epoch_offset

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        # Still yield to the event loop, as a real sleep would, so concurrent tasks interleave.
        await asyncio.sleep(0)
