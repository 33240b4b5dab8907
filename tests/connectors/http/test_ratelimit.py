import asyncio
import time

import httpx
import pytest

from connectors.http import (
    IETF_DRAFT,
    X_RATELIMIT_EPOCH,
    FakeClock,
    HeaderSpec,
    LimiterRegistry,
    Quota,
    RateLimiter,
    ScaledClock,
)


def resp(status=200, headers=None):
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "https://x.io/t"))


async def start_times(limiter, clock, n):
    times = []
    for _ in range(n):
        async with limiter.slot():
            times.append(clock.now)
    return times


async def test_quota_paces_to_the_ceiling():
    clock = FakeClock()
    limiter = RateLimiter([Quota(requests=3, per=60)], clock=clock)
    assert await start_times(limiter, clock, 7) == [0, 0, 0, 60, 60, 60, 120]


async def test_never_more_than_the_quota_in_any_window():
    clock = FakeClock()
    limiter = RateLimiter([Quota(requests=5, per=10)], clock=clock)
    times = []
    for i in range(40):
        async with limiter.slot():
            times.append(clock.now)
        clock.advance(0.7 * (i % 4))  # irregular work between requests
    for t in times:
        assert sum(1 for u in times if t <= u < t + 10) <= 5
    # ...and it is not slower than it must be: 40 requests at 5/10 s need at least 70 s, not much more.
    assert times[-1] <= 80


async def test_several_quotas_all_hold():
    clock = FakeClock()
    hubspot = RateLimiter([Quota(requests=110, per=10), Quota(requests=11, per=1)], clock=clock)
    times = await start_times(hubspot, clock, 23)
    assert times[10] == 0 and times[11] == 1 and times[22] == 2


async def test_remaining_zero_pauses_until_the_reset():
    clock = FakeClock()
    limiter = RateLimiter(headers=IETF_DRAFT, clock=clock)
    async with limiter.slot():
        limiter.observe(resp(headers={"ratelimit-remaining": "0", "ratelimit-reset": "30"}))
    await limiter.acquire()
    limiter.release()
    assert clock.sleeps == [30]


async def test_epoch_reset_header():
    clock = FakeClock(epoch=1_700_000_000)
    limiter = RateLimiter(headers=X_RATELIMIT_EPOCH, clock=clock)
    limiter.observe(resp(headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000012"}))
    assert limiter.delay() == pytest.approx(12)


async def test_remaining_zero_without_reset_waits_a_window():
    clock = FakeClock()
    freshdesk = RateLimiter(
        [Quota(requests=400, per=60)], headers=HeaderSpec(remaining=("x-ratelimit-remaining",)), clock=clock
    )
    freshdesk.observe(resp(headers={"X-RateLimit-Remaining": "0"}))
    assert freshdesk.delay() == pytest.approx(60)


async def test_429_retry_after_pauses_the_account():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.observe(resp(429, headers={"Retry-After": "7"}))
    assert limiter.delay() == pytest.approx(7)
    clock.advance(7)
    assert limiter.delay() == 0


async def test_remaining_quota_is_spread_over_the_time_to_reset():
    clock = FakeClock()
    limiter = RateLimiter(headers=IETF_DRAFT, clock=clock)
    limiter.observe(resp(headers={"ratelimit-remaining": "4", "ratelimit-reset": "20"}))
    assert limiter.delay() == pytest.approx(5)
    unpaced = RateLimiter(headers=IETF_DRAFT, clock=clock, pace=False)
    unpaced.observe(resp(headers={"ratelimit-remaining": "4", "ratelimit-reset": "20"}))
    assert unpaced.delay() == 0


async def test_reserve_keeps_requests_for_others():
    clock = FakeClock()
    limiter = RateLimiter(headers=IETF_DRAFT, clock=clock, reserve=2)
    limiter.observe(resp(headers={"ratelimit-remaining": "2", "ratelimit-reset": "9"}))
    assert limiter.delay() == pytest.approx(9)


async def test_responses_without_headers_change_nothing():
    clock = FakeClock()
    limiter = RateLimiter(headers=IETF_DRAFT, clock=clock)
    limiter.observe(resp())
    assert limiter.delay() == 0


async def test_one_request_at_a_time_per_account_by_default():
    limiter = RateLimiter(clock=FakeClock())
    in_flight, peak = 0, 0

    async def request():
        nonlocal in_flight, peak
        async with limiter.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.001)
            in_flight -= 1

    await asyncio.gather(*(request() for _ in range(5)))
    assert peak == 1

    limiter = RateLimiter(clock=FakeClock(), concurrency=3)
    peak = 0
    await asyncio.gather(*(request() for _ in range(6)))
    assert peak == 3


async def test_a_failed_acquire_frees_its_slot():
    limiter = RateLimiter(clock=FakeClock())
    limiter.pause(100)
    task = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(limiter.acquire(), 1)  # would hang if the cancelled task kept the slot


async def test_scaled_clock_runs_a_minute_quota_faster_than_real_time():
    clock = ScaledClock(scale=600)  # one vendor minute = 0.1 real seconds
    limiter = RateLimiter([Quota(requests=2, per=60)], clock=clock)
    started = time.monotonic()
    for _ in range(5):  # needs two full windows
        async with limiter.slot():
            pass
    elapsed = time.monotonic() - started
    assert 0.18 <= elapsed < 1.5


def test_registry_shares_one_limiter_per_account():
    made = []
    registry = LimiterRegistry(lambda account: made.append(account) or RateLimiter())
    assert registry.get("a") is registry.get("a")
    assert registry.get("a") is not registry.get("b")
    assert made == ["a", "b"]
    registry.forget("a")
    registry.get("a")
    assert made == ["a", "b", "a"]


async def test_a_throttle_without_hints_waits_the_longest_quota_window():
    clock = FakeClock()
    hubspot = RateLimiter(
        [Quota(requests=110, per=10), Quota(requests=11, per=1)], clock=clock, default_pause=60
    )
    hubspot.observe(resp(429))
    assert hubspot.delay() == pytest.approx(10)
    bare = RateLimiter(clock=clock, default_pause=60)
    bare.observe(resp(429))
    assert bare.delay() == pytest.approx(60)
