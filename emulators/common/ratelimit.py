"""Fixed-window request quotas per minute, with a time-scale factor for benchmarks.

Vendors count requests in per-minute windows; ``reset`` is the number of seconds until the window rolls
over (what Zendesk's ``ratelimit-reset`` and a 429's ``Retry-After`` carry). With ``time_scale = 60`` a
"minute" lasts one real second, so a benchmark feels the quota without waiting minutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from emulators.common.clock import Clock


@dataclass(frozen=True)
class Bucket:
    """One quota the request is charged against: the account-wide one or an endpoint's own."""

    name: str
    limit: int
    cost: int = 1


@dataclass(frozen=True)
class Usage:
    bucket: Bucket
    allowed: bool
    remaining: int
    #: Real seconds until the window resets (at least 1, as vendors never send 0 while throttling).
    reset: int


class RateLimiter:
    def __init__(self, clock: Clock, time_scale: float = 1.0) -> None:
        self.clock = clock
        self.time_scale = time_scale
        self._windows: dict[str, tuple[int, int]] = {}

    def _window(self) -> tuple[int, float]:
        length = 60.0 / self.time_scale
        now = self.clock.now()
        index = int(now // length)
        return index, (index + 1) * length - now

    def charge(self, buckets: list[Bucket]) -> list[Usage]:
        """Charge every bucket, all or nothing: a request refused by one bucket costs none."""
        index, left = self._window()
        reset = max(1, math.ceil(left))
        used = {}
        for bucket in buckets:
            window, count = self._windows.get(bucket.name, (index, 0))
            used[bucket.name] = count if window == index else 0
        allowed = all(used[b.name] + b.cost <= b.limit for b in buckets)
        usages = []
        for bucket in buckets:
            count = used[bucket.name] + (bucket.cost if allowed else 0)
            self._windows[bucket.name] = (index, count)
            usages.append(Usage(bucket, allowed, max(0, bucket.limit - count), reset))
        return usages

    def reset(self) -> None:
        self._windows.clear()
