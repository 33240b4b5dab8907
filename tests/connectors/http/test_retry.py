import pytest

from connectors.http import (
    AuthError,
    NotFoundError,
    RateLimitError,
    RejectedError,
    RetryPolicy,
    UpstreamError,
)


class Recorder:
    def __init__(self):
        self.waits = []

    async def __call__(self, seconds):
        self.waits.append(seconds)


def failing(*errors, result="ok"):
    """An async function raising ``errors`` in turn, then returning ``result``; counts its calls."""
    queue = list(errors)

    async def fn():
        fn.calls += 1
        if queue:
            raise queue.pop(0)
        return result

    fn.calls = 0
    return fn


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (RateLimitError("x", retry_after=5), False, True),  # a throttled POST was not processed
        (RateLimitError("x", retry_after=None), True, True),
        (RateLimitError("x", retry_after=3600), True, False),  # daily limit: do not sit on it
        (UpstreamError("x"), True, True),
        (UpstreamError("x"), False, False),  # a POST that may have created a ticket
        (UpstreamError("x", maybe_processed=False), False, True),
        (AuthError("x"), True, False),
        (NotFoundError("x"), True, False),
        (RejectedError("x"), True, False),
        (ValueError("x"), True, False),
    ],
)
def test_should_retry(error, idempotent, expected):
    assert RetryPolicy().should_retry(error, idempotent) is expected


def test_retry_after_is_waited_exactly():
    assert RetryPolicy().wait_seconds(RateLimitError("x", retry_after=17), 1) == 17


def test_backoff_is_exponential_jittered_and_capped():
    policy = RetryPolicy(initial=1, max_backoff=10, jitter=0.5)
    for attempt, base in [(1, 1), (2, 2), (3, 4), (4, 8)]:
        waits = {policy.wait_seconds(UpstreamError("x"), attempt) for _ in range(20)}
        assert all(base <= w <= base + 0.5 for w in waits)
        assert len(waits) > 1  # jittered, so accounts do not retry in lockstep
    assert policy.wait_seconds(UpstreamError("x"), 10) == 10
    assert policy.wait_seconds(RateLimitError("x", retry_after=None), 2) >= 2


def test_for_tests_never_waits():
    policy = RetryPolicy.for_tests()
    assert policy.wait_seconds(RateLimitError("x", retry_after=30), 1) == 0
    assert policy.wait_seconds(UpstreamError("x"), 3) == 0


async def test_transient_errors_are_retried_until_success():
    sleep = Recorder()
    fn = failing(UpstreamError("a"), RateLimitError("b", retry_after=3))
    assert await RetryPolicy(sleep=sleep, jitter=0).call(fn) == "ok"
    assert fn.calls == 3
    assert sleep.waits == [0.5, 3]


async def test_permanent_errors_are_not_retried():
    fn = failing(RejectedError("bad"))
    with pytest.raises(RejectedError):
        await RetryPolicy.for_tests().call(fn)
    assert fn.calls == 1


async def test_attempts_are_capped_and_the_last_error_is_raised():
    sleep = Recorder()
    errors = [UpstreamError(str(i)) for i in range(10)]
    fn = failing(*errors)
    with pytest.raises(UpstreamError) as caught:
        await RetryPolicy.for_tests(attempts=4, sleep=sleep).call(fn)
    assert fn.calls == 4
    assert caught.value is errors[3]
    assert sleep.waits == [0, 0, 0]


async def test_non_idempotent_call_is_not_retried_after_an_ambiguous_failure():
    fn = failing(UpstreamError("read timeout"))
    with pytest.raises(UpstreamError):
        await RetryPolicy.for_tests().call(fn, idempotent=False)
    assert fn.calls == 1
