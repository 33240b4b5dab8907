"""Client-side rate limiting per linked account: stay under the vendor's ceiling instead of bouncing off it.

Two signals, both optional:

* **Proactive** - the documented quota (``Quota(requests=700, per=60)`` for a Zendesk Enterprise
  account). The limiter keeps a sliding log of send times and never lets more than ``requests``
  start within any ``per`` seconds, so a full sync runs exactly at the ceiling. A connector starts
  from its vendor's lowest plan, which is safe for every account; when the vendor's ``limit`` header
  states the account's own quota (Zendesk's ``x-rate-limit``, Freshdesk's ``X-RateLimit-Total``), the
  limiter adopts it from the first response on (``advertised`` says what the number means: a
  ``Plan``). Without that an account on a larger plan was held to the smallest: a Zendesk account
  allowed 400 or 700 a minute got 200, a Freshdesk one 50 of its 700.
* **Reactive** - what each response says (``observe``), read through the vendor's ``HeaderSpec``: when
  ``remaining`` reaches the reserve the limiter pauses until the advertised reset; while quota remains
  it spreads the remaining requests over the time to reset (other clients of the same account may
  be spending it too); after a throttle it pauses for ``Retry-After``.

Some vendors also count certain endpoints in quotas of their own (Zendesk's incremental exports: 10 or
20 a minute, next to 200-700 for the account). The vendor declares those endpoints as
``EndpointBucket``s; a request to one waits for its bucket as well as for the account, a bucket
reported used up (``HeaderSpec.buckets``) holds back only its own endpoints until its reset, and a
throttle while only the bucket was used up pauses only the bucket. Without this a full sync's export
ran into a 429 each time the export's quota ran out (every 11th or 21st page). A vendor that reports no
such headers but documents its endpoints' quotas per plan (Freshdesk) states them in the ``Plan`` its
advertised limit tells, and each bucket keeps its quota proactively, like the account's.

Some vendors charge some requests more than one unit of quota (Freshdesk: one credit more per
``include=``): ``cost`` says what a request costs, and it takes that many places in every window it
counts in.

One request is in flight at a time per linked account unless ``concurrency`` says otherwise - vendors
count per account, and without a quota to keep their starts to, parallel requests mostly buy 429s. A
limiter that knows the account's quota (``plan_limiter``) lets ``IN_FLIGHT`` go at once: the quota
still holds their starts, and a vendor 300 ms away allows a client one request at a time only 200 a
minute, whatever the account's quota. All time comes from an injected ``Clock``, so tests use
``FakeClock`` and benchmarks a ``ScaledClock``.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import httpx
import msgspec

from connectors.http.clock import Clock, SystemClock
from connectors.http.headers import RETRY_AFTER_ONLY, HeaderSpec, read_buckets, read_headers


class Quota(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``requests`` started within any ``per`` seconds (vendor seconds; see ``ScaledClock``)."""

    requests: int
    per: float


#: Requests in flight at once for one account, for a limiter that knows the account's quota.
IN_FLIGHT = 4


def per_minute(requests: int) -> Quota:
    """``requests`` a minute: what most vendors' ``limit`` header counts."""
    return Quota(requests=requests, per=60)


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """What the vendor's advertised limit says of an account (``RateLimiter``'s ``advertised``): its
    own quota, and the quotas its plan gives single endpoints, by ``EndpointBucket`` name."""

    quota: Quota
    endpoints: dict[str, Quota] = msgspec.field(default_factory=dict)


class EndpointBucket(msgspec.Struct, frozen=True, kw_only=True):
    """Requests the vendor counts in a quota of their own: ``method`` (or ``*``) and a URL path
    pattern matched segment by segment (``fnmatch`` within a segment: ``/api/v2/tickets/*`` is a
    ticket, not its comments). ``name`` is the bucket's name in the vendor's headers."""

    name: str
    method: str
    path: str

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        pattern, segments = self.path.split("/"), path.split("/")
        return len(pattern) == len(segments) and all(map(fnmatch.fnmatchcase, segments, pattern))


class _Window:
    """Sliding log of the last ``quota.requests`` send times."""

    def __init__(self, quota: Quota) -> None:
        if quota.requests < 1 or quota.per <= 0:
            raise ValueError(f"invalid quota {quota!r}")
        self.quota = quota
        self.sent: deque[float] = deque(maxlen=quota.requests)

    def wait(self, now: float, cost: int = 1) -> float:
        """Seconds until ``cost`` more places are free (a cost above the whole quota waits for an
        empty window)."""
        over = len(self.sent) + min(cost, self.quota.requests) - self.quota.requests
        if over <= 0:
            return 0.0
        return self.sent[over - 1] + self.quota.per - now

    def record(self, now: float, cost: int) -> None:
        self.sent.extend([now] * cost)

    def resized(self, requests: int) -> _Window:
        """The same window holding ``requests``, with the send times that still count in it."""
        window = _Window(Quota(requests=requests, per=self.quota.per))
        window.sent.extend(self.sent)  # the deque keeps the latest ``requests`` of them
        return window


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
        endpoints: The vendor's per-endpoint quotas, first match wins (``bucket_for``).
        advertised: The account's ``Plan``, given the number in the vendor's ``limit`` header (None
            when that number is not one): its quota replaces the configured quota of the same window
            (or joins the others), and its endpoints' quotas are kept for their buckets.
        cost: What a request costs in quota (default: 1 each).
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
        endpoints: Sequence[EndpointBucket] = (),
        advertised: Callable[[int], Plan | None] | None = None,
        cost: Callable[[httpx.Request], int] | None = None,
    ) -> None:
        self.headers = headers
        self.clock: Clock = clock or SystemClock()
        self._windows = [_Window(q) for q in quotas]
        self._slots = asyncio.Semaphore(concurrency)
        self._reserve = reserve
        self._in_flight = 0  # requests sent and not answered yet
        self._pace = pace
        self._default_pause = default_pause
        self._not_before = float("-inf")  # monotonic time before which nothing may start
        self._endpoints = tuple(endpoints)
        self._bucket_not_before: dict[str, float] = {}  # the same, per endpoint bucket
        self._bucket_used_up: dict[str, bool] = {}  # what the last response said of each bucket
        self._account_used_up = False
        self._advertised = advertised
        self._advertised_limit: int | None = None  # the last ``limit`` adopted: most answers repeat it
        self._cost = cost
        self._bucket_windows: dict[str, _Window] = {}  # the endpoints' quotas of the account's plan

    @property
    def quotas(self) -> tuple[Quota, ...]:
        """The account's quotas enforced now: those configured, as the vendor's headers resized them."""
        return tuple(w.quota for w in self._windows)

    @property
    def endpoint_quotas(self) -> dict[str, Quota]:
        """The quotas of endpoint buckets enforced now (those the account's ``Plan`` gave)."""
        return {name: w.quota for name, w in self._bucket_windows.items()}

    def cost_of(self, request: httpx.Request) -> int:
        """What ``request`` costs in quota."""
        return 1 if self._cost is None else max(1, self._cost(request))

    def bucket_for(self, method: str, path: str) -> str | None:
        """The endpoint bucket a request is counted in besides the account's quota, if any."""
        return next((b.name for b in self._endpoints if b.matches(method, path)), None)

    def _counting(self, bucket: str | None) -> list[_Window]:
        """The windows a request to ``bucket``'s endpoints counts in."""
        window = None if bucket is None else self._bucket_windows.get(bucket)
        return self._windows if window is None else [*self._windows, window]

    def delay(self, bucket: str | None = None, cost: int = 1) -> float:
        """Seconds until a request (to ``bucket``'s endpoints, costing ``cost``) may start (0 when it
        may start now)."""
        now = self.clock.monotonic()
        waits = [self._not_before - now, *(w.wait(now, cost) for w in self._counting(bucket))]
        if bucket is not None:
            waits.append(self._bucket_not_before.get(bucket, now) - now)
        return max(0.0, *waits)

    async def acquire(self, bucket: str | None = None, cost: int = 1) -> None:
        """Wait for a free slot and for the quota (and ``bucket``'s) to hold ``cost``; must be paired
        with ``release``."""
        await self._slots.acquire()
        try:
            while (wait := self.delay(bucket, cost)) > 0:
                await self.clock.sleep(wait)
            now = self.clock.monotonic()  # no await since the check: recording is atomic
            for window in self._counting(bucket):
                window.record(now, cost)
            self._in_flight += 1
        except BaseException:
            self._slots.release()
            raise

    def release(self) -> None:
        """Free the slot taken by ``acquire`` (after the response, or after a failed send)."""
        self._in_flight -= 1
        self._slots.release()

    @asynccontextmanager
    async def slot(self, bucket: str | None = None, cost: int = 1) -> AsyncIterator[None]:
        """``acquire`` ... ``release`` as a context manager."""
        await self.acquire(bucket, cost)
        try:
            yield
        finally:
            self.release()

    def pause(self, seconds: float | None, bucket: str | None = None) -> None:
        """Start nothing (to ``bucket``'s endpoints, or at all) for ``seconds``, e.g. after a throttle.

        ``None`` (the vendor did not say) waits the longest documented quota window - a full window
        is enough for any rolling limit to forget us - or ``default_pause`` without a quota.
        """
        wait = self._fallback_window() if seconds is None else seconds
        until = self.clock.monotonic() + wait
        if bucket is None:
            self._not_before = max(self._not_before, until)
        else:
            self._bucket_not_before[bucket] = max(self._bucket_not_before.get(bucket, until), until)

    def throttled(self, seconds: float | None, bucket: str | None = None) -> None:
        """A throttle answered a request to ``bucket``'s endpoints: when the last response said that
        bucket, and not the account's quota, was used up, only its endpoints wait; otherwise all."""
        if bucket is not None and self._bucket_used_up.get(bucket) and not self._account_used_up:
            self.pause(seconds, bucket)
        else:
            self.pause(seconds)

    def observe(self, response: httpx.Response, bucket: str | None = None) -> None:
        """Learn from a response's rate-limit headers (and its status, for 429) to a request counted
        in ``bucket``."""
        state = read_headers(self.headers, response.headers, self.clock.time())
        # What remains was counted before the requests still in flight beside this one: each may take
        # one more.
        reserve = self._reserve + max(0, self._in_flight - 1)
        if state.limit is not None and self._advertised is not None and state.limit != self._advertised_limit:
            self._advertised_limit = state.limit
            self._adopt(self._advertised(state.limit))
        for name, quota in read_buckets(self.headers, response.headers).items():
            used_up = quota.remaining is not None and quota.remaining - reserve <= 0
            self._bucket_used_up[name] = used_up
            if used_up:
                self.pause(quota.reset_after, name)
        self._account_used_up = state.remaining is not None and state.remaining - reserve <= 0
        if response.status_code == 429:
            self.throttled(state.retry_after if state.retry_after is not None else state.reset_after, bucket)
            return
        if state.retry_after is not None and response.status_code >= 400:
            self.pause(state.retry_after)  # a vendor's own throttle status that still says when
        if state.remaining is None:
            return
        left = state.remaining - reserve
        if left <= 0:
            self.pause(state.reset_after)
        elif self._pace and state.reset_after is not None:
            # Leave each of the ``left`` requests an equal share of the time to reset.
            self._not_before = max(self._not_before, self.clock.monotonic() + state.reset_after / left)

    def _adopt(self, plan: Plan | None) -> None:
        """Enforce ``plan``: its quota instead of the configured one of the same window (or beside the
        others), its endpoints' quotas for their buckets. A quota of no requests or no time is none:
        ignored."""
        if plan is None or not _valid(plan.quota):
            return
        for i, window in enumerate(self._windows):
            if window.quota.per == plan.quota.per:
                if window.quota != plan.quota:
                    self._windows[i] = window.resized(plan.quota.requests)
                break
        else:
            self._windows.append(_Window(plan.quota))
        for name in self._bucket_windows.keys() - plan.endpoints.keys():  # a plan that caps fewer
            del self._bucket_windows[name]
        for name, quota in plan.endpoints.items():
            current = self._bucket_windows.get(name)
            if not _valid(quota) or (current is not None and current.quota == quota):
                continue
            if current is not None and current.quota.per == quota.per:
                self._bucket_windows[name] = current.resized(quota.requests)
                continue
            # Which requests of the window went to these endpoints was not kept before their quota
            # was known (the answer that told it was to one of them, most likely): count all of the
            # account's, at worst a short wait once, rather than a 429 at the end of the window.
            window = _Window(quota)
            window.sent.extend(next((w.sent for w in self._windows if w.quota.per == quota.per), ()))
            self._bucket_windows[name] = window

    def _fallback_window(self) -> float:
        return max((w.quota.per for w in self._windows), default=self._default_pause)


def plan_limiter(
    lowest: Quota,
    *,
    headers: HeaderSpec,
    plan: Callable[[int], Plan | None],
    endpoints: Sequence[EndpointBucket] = (),
    cost: Callable[[httpx.Request], int] | None = None,
) -> RateLimiter:
    """The limiter of a vendor whose ``limit`` header tells each account's plan: it starts from
    ``lowest`` (the vendor's smallest plan, safe for any account), adopts the account's ``plan`` from
    the first answer and, keeping request starts to a quota it knows, lets ``IN_FLIGHT`` go at once."""
    return RateLimiter(
        [lowest], headers=headers, endpoints=endpoints, advertised=plan, cost=cost, concurrency=IN_FLIGHT
    )


def _valid(quota: Quota) -> bool:
    return quota.requests >= 1 and quota.per > 0


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
