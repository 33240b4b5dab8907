import asyncio
import time

import httpx
import pytest

from connectors.http import (
    IETF_DRAFT,
    X_RATELIMIT_EPOCH,
    EndpointBucket,
    FakeClock,
    HeaderSpec,
    LimiterRegistry,
    Plan,
    Quota,
    RateLimiter,
    ScaledClock,
    per_minute,
    read_buckets,
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


async def test_requests_still_in_flight_count_against_what_remains():
    clock = FakeClock()
    limiter = RateLimiter(headers=IETF_DRAFT, clock=clock, concurrency=3, pace=False)
    for _ in range(3):
        await limiter.acquire()  # three sent
    limiter.observe(resp(headers={"ratelimit-remaining": "2", "ratelimit-reset": "9"}))  # the first answer
    assert limiter.delay() == pytest.approx(9)  # the two still out may have taken those two
    for _ in range(3):
        limiter.release()
    alone = RateLimiter(headers=IETF_DRAFT, clock=clock, pace=False)
    async with alone.slot():
        alone.observe(resp(headers={"ratelimit-remaining": "2", "ratelimit-reset": "9"}))
    assert alone.delay() == 0  # nothing else out: two remain


async def test_responses_without_headers_change_nothing():
    clock = FakeClock()
    limiter = RateLimiter(headers=IETF_DRAFT, clock=clock)
    limiter.observe(resp())
    assert limiter.delay() == 0


def limit(value):
    return resp(headers={"ratelimit-limit": value})


def plan(requests):
    return Plan(quota=per_minute(requests))


async def test_the_accounts_advertised_quota_replaces_the_lowest_plans():
    clock = FakeClock()
    limiter = RateLimiter([per_minute(3)], headers=IETF_DRAFT, clock=clock, advertised=plan)
    async with limiter.slot():
        limiter.observe(limit("5"))  # the first answer: this account's plan allows 5 a minute
    assert limiter.quotas == (Quota(requests=5, per=60),)
    assert await start_times(limiter, clock, 6) == [0, 0, 0, 0, 60, 60]  # 5 in the first minute


async def test_a_smaller_advertised_quota_counts_the_requests_already_sent():
    clock = FakeClock()
    limiter = RateLimiter([per_minute(10)], headers=IETF_DRAFT, clock=clock, advertised=plan)
    assert await start_times(limiter, clock, 2) == [0, 0]
    limiter.observe(limit("3"))
    assert await start_times(limiter, clock, 3) == [0, 60, 60]  # two of the 3 were already spent


async def test_an_advertised_quota_of_another_window_joins_the_configured_one():
    hourly = RateLimiter(
        [per_minute(50)],
        headers=IETF_DRAFT,
        clock=FakeClock(),
        advertised=lambda n: Plan(quota=Quota(requests=n, per=3600)),
    )
    hourly.observe(limit("3000"))
    assert hourly.quotas == (Quota(requests=50, per=60), Quota(requests=3000, per=3600))


async def test_no_quota_is_adopted_from_nonsense_or_unasked():
    for value in ("0", "-5", "lots", ""):
        limiter = RateLimiter([per_minute(3)], headers=IETF_DRAFT, clock=FakeClock(), advertised=plan)
        limiter.observe(limit(value))
        assert limiter.quotas == (Quota(requests=3, per=60),), value
    unasked = RateLimiter([per_minute(3)], headers=IETF_DRAFT, clock=FakeClock())  # no ``advertised``
    unasked.observe(limit("500"))
    assert unasked.quotas == (Quota(requests=3, per=60),)


async def test_a_request_costing_more_takes_as_many_places():
    clock = FakeClock()
    limiter = RateLimiter([per_minute(3)], clock=clock)
    times = []
    for cost in (2, 2, 1):
        async with limiter.slot(cost=cost):
            times.append(clock.now)
    assert times == [0, 60, 60]  # one place was left for the second: it waited for the window


async def test_a_plans_endpoint_quota_holds_back_only_its_endpoints():
    clock = FakeClock()
    limiter = RateLimiter(
        [per_minute(2)],
        headers=IETF_DRAFT,
        clock=clock,
        endpoints=[EndpointBucket(name="list", method="GET", path="/list")],
        advertised=lambda n: Plan(quota=per_minute(n), endpoints={"list": per_minute(2)}),
        pace=False,
    )
    limiter.observe(limit("100"))
    assert limiter.endpoint_quotas == {"list": Quota(requests=2, per=60)}
    bucket = limiter.bucket_for("GET", "/list")
    started = []
    for target in (bucket, bucket, None, bucket):
        async with limiter.slot(target):
            started.append((target, clock.now))
    # The third to the list waited for its endpoint's minute; the other endpoint did not.
    assert started == [("list", 0), ("list", 0), (None, 0), ("list", 60)]


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


# --- per-endpoint buckets (Zendesk's incremental exports: 10 a minute next to the account's 700) ---

BUCKETED = HeaderSpec(
    remaining=("ratelimit-remaining",),
    reset=("ratelimit-reset",),
    reset_kind="seconds",
    buckets=("zendesk-ratelimit-",),
)
EXPORTS = EndpointBucket(name="incremental-exports", method="GET", path="/api/v2/incremental/*")


def bucketed(clock):
    return RateLimiter(headers=BUCKETED, clock=clock, pace=False, endpoints=[EXPORTS])


def exports_left(remaining, *, account="650", status=200, **extra):
    headers = {
        "ratelimit-remaining": account,
        "ratelimit-reset": "30",
        "zendesk-ratelimit-incremental-exports": f"total=10; remaining={remaining}; resets=42",
        **extra,
    }
    return resp(status, headers=headers)


def test_bucket_headers_are_read_by_name():
    headers = httpx.Headers(
        {"Zendesk-RateLimit-Tickets-Index": "total=100; remaining=98; resets=30", "ratelimit-reset": "5"}
    )
    spec = HeaderSpec(buckets=("zendesk-ratelimit-",))
    ((name, state),) = read_buckets(spec, headers).items()
    assert name == "tickets-index"
    assert (state.limit, state.remaining, state.reset_after) == (100, 98, 30)
    assert read_buckets(HeaderSpec(), headers) == {}  # a vendor without buckets reads none
    garbled = read_buckets(spec, {"zendesk-ratelimit-x": "total=ten; remaining=; resets=3"})["x"]
    assert (garbled.limit, garbled.remaining, garbled.reset_after) == (None, None, 3)


def test_requests_are_matched_to_their_bucket_segment_by_segment():
    limiter = bucketed(FakeClock())
    assert limiter.bucket_for("GET", "/api/v2/incremental/tickets.json") == "incremental-exports"
    assert limiter.bucket_for("get", "/api/v2/incremental/organizations") == "incremental-exports"
    assert limiter.bucket_for("POST", "/api/v2/incremental/tickets.json") is None
    assert limiter.bucket_for("GET", "/api/v2/incremental/tickets/cursor.json") is None  # one more segment
    assert limiter.bucket_for("GET", "/api/v2/groups.json") is None


async def test_a_used_up_bucket_holds_back_only_its_endpoints():
    clock = FakeClock()
    limiter = bucketed(clock)
    async with limiter.slot("incremental-exports"):
        limiter.observe(exports_left(1), "incremental-exports")
    assert limiter.delay("incremental-exports") == 0  # one left: go on
    async with limiter.slot("incremental-exports"):
        limiter.observe(exports_left(0), "incremental-exports")
    assert limiter.delay() == 0 and limiter.delay("tickets-index") == 0
    assert limiter.delay("incremental-exports") == pytest.approx(42)
    async with limiter.slot("incremental-exports"):  # waits for the bucket's reset, not for a 429
        pass
    assert clock.sleeps == [42]


async def test_a_throttle_pauses_the_bucket_when_only_the_bucket_ran_out():
    clock = FakeClock()
    limiter = bucketed(clock)
    limiter.observe(exports_left(0, status=429, **{"retry-after": "40"}), "incremental-exports")
    assert limiter.delay() == 0
    assert limiter.delay("incremental-exports") == pytest.approx(42)  # the later of the two


async def test_a_throttle_pauses_the_account_when_the_account_ran_out_too():
    clock = FakeClock()
    limiter = bucketed(clock)
    limiter.observe(exports_left(0, account="0", status=429, **{"retry-after": "40"}), "incremental-exports")
    assert limiter.delay() == pytest.approx(40)
    # ...and when nothing said which quota it was, the account waits too (the safe side).
    other = bucketed(clock)
    other.observe(resp(429, headers={"retry-after": "9"}), "incremental-exports")
    assert other.delay() == pytest.approx(9)
    other.throttled(11, "incremental-exports")
    assert other.delay() == pytest.approx(11)
