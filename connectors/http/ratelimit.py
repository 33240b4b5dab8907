"""Client-side rate limiting per linked account: stay under the vendor's ceiling instead of bouncing off it.

Two signals, both optional:

* **Proactive** - the documented quota (``Quota(requests=700, per=60)`` for a Zendesk Enterprise
  account). The limiter keeps a sliding log of send times and never lets more than ``requests``
  start within any ``per`` seconds, so a full sync runs exactly at the ceiling.
* **Reactive** - what each response says (``observe``), read through the vendor's ``HeaderSpec``: when
  ``remaining`` reaches the reserve the limiter pauses until the advertised reset; while quota remains
  it spreads the remaining requests over the time to reset (other clients of the same account may
  be spending it too); after a throttle it pauses for ``Retry-After``.

One request is in flight at a time per linked account unless ``concurrency`` says otherwise - vendors
count per account, and parallel requests within one account mostly buy 429s. All time comes from an
injected ``Clock``, so tests use ``FakeClock`` and benchmarks a ``ScaledClock``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import httpx
import msgspec

from connectors.http.clock import Clock, SystemClock
from connectors.http.headers import RETRY_AFTER_ONLY, HeaderSpec, read_headers


class Quota(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``requests`` started within any ``per`` seconds (vendor seconds; see ``ScaledClock``)."""

    requests: int
    per: float


class _Window:
    """Sliding log of the last ``quota.requests`` send times."""

    def __init__(self, quota: Quota) -> None:
        if quota.requests < 1 or quota.per <= 0:
            raise ValueError(f"invalid quota {quota!r}")
        self.quota = quota
        self.sent: deque[float] = deque(maxlen=quota.requests)

    def wait(self, now: float) -> float:
        if len(self.sent) < self.quota.requests:
            return 0.0
        return self.sent[0] + self.quota.per - now


class RateLimiter:
    """The limiter of one linked account.

    Args:
        quotas: Documented quotas, all enforced (HubSpot: 110 per 10 s *and* 11 per second).
        headers: Where the vendor reports remaining quota, reset and Retry-After.
        clock: Time source.
        concurrency: Requests allowed in flight at once.
        reserve: Treat the window as exhausted when this many requests remain (leave room for
            other clients of the account, e.g. the end user's own scripts).
        pace: Spread the remaining requests evenly over the time left to the reset.
        default_pause: Pause after a throttle or an exhausted window that named no reset time, when
            no quota is configured (otherwise the longest quota window is used).
    """

    def __init__(
        self,
        quotas: Sequence[Quota] = (),
        *,
        headers: HeaderSpec = RETRY_AFTER_ONLY,
        clock: Clock | None = None,
        concurrency: int = 1,
        reserve: int = 0,
        pace: bool = True,
        default_pause: float = 60.0,
    ) -> None:
        self.headers = headers
        self.clock: Clock = clock or SystemClock()
        self._windows = [_Window(q) for q in quotas]
        self._slots = asyncio.Semaphore(concurrency)
        self._reserve = reserve
        self._pace = pace
        self._default_pause = default_pause
        self._not_before = float("-inf")  # monotonic time before which nothing may start

    def delay(self) -> float:
        """Seconds until a request may start (0 when it may start now)."""
        now = self.clock.monotonic()
        waits = [self._not_before - now, *(w.wait(now) for w in self._windows)]
        return max(0.0, *waits)

    async def acquire(self) -> None:
        """Wait for a free slot and for the quota; must be paired with ``release``."""
        await self._slots.acquire()
        try:
            while (wait := self.delay()) > 0:
                await self.clock.sleep(wait)
            now = self.clock.monotonic()  # no await since the check: recording is atomic
            for window in self._windows:
                window.sent.append(now)
        except BaseException:
            self._slots.release()
            raise

    def release(self) -> None:
        """Free the slot taken by ``acquire`` (after the response, or after a failed send)."""
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """``acquire`` ... ``release`` as a context manager."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def pause(self, seconds: float | None) -> None:
        """Start nothing for ``seconds``, e.g. after a throttle.

        ``None`` (the vendor did not say) waits the longest documented quota window - a full window
        is enough for any rolling limit to forget us - or ``default_pause`` without a quota.
        """
        wait = self._fallback_window() if seconds is None else seconds
        self._not_before = max(self._not_before, self.clock.monotonic() + wait)

    def observe(self, response: httpx.Response) -> None:
        """Learn from a response's rate-limit headers (and its status, for 429)."""
        state = read_headers(self.headers, response.headers, self.clock.time())
        if response.status_code == 429:
            self.pause(state.retry_after if state.retry_after is not None else state.reset_after)
            return
        if state.retry_after is not None and response.status_code >= 400:
            self.pause(state.retry_after)  # a vendor's own throttle status that still says when
        if state.remaining is None:
            return
        left = state.remaining - self._reserve
        if left <= 0:
            self.pause(state.reset_after)
        elif self._pace and state.reset_after is not None:
            # Leave each of the ``left`` requests an equal share of the time to reset.
            self._not_before = max(self._not_before, self.clock.monotonic() + state.reset_after / left)

    def _fallback_window(self) -> float:
        return max((w.quota.per for w in self._windows), default=self._default_pause)


class LimiterRegistry:
    """One ``RateLimiter`` per linked account, shared by its sync runs and write-through requests.

    Args:
        factory: Builds the limiter for an account the first time it is asked for.
    """

    def __init__(self, factory: Callable[[str], RateLimiter]) -> None:
        self._factory = factory
        self._limiters: dict[str, RateLimiter] = {}

    def get(self, account: str) -> RateLimiter:
        if account not in self._limiters:
            self._limiters[account] = self._factory(account)
        return self._limiters[account]

    def forget(self, account: str) -> None:
        """Drop an account's limiter (account unlinked)."""
        self._limiters.pop(account, None)
