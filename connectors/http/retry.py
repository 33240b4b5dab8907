"""Retrying transient failures with tenacity, as an injectable policy.

Only ``TransientError`` is retried. A ``RateLimitError`` that names its wait is retried after exactly
that wait (the vendor knows its window better than any backoff formula); everything else backs off
exponentially with jitter, so many accounts recovering from one vendor outage do not retry in
lockstep. ``RetryPolicy.for_tests()`` keeps the retries but never waits, so a test of "three 503s
then a 200" takes microseconds.

Non-idempotent requests (POST) are retried only when the failure proves the vendor did not act on
them (a throttle, a 503, a connection never made): retrying a create after a read timeout is how
duplicate tickets are born.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from connectors.http.errors import RateLimitError, TransientError, UpstreamError

T = TypeVar("T")

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How a ``VendorClient`` retries.

    Attributes:
        attempts: Total tries, the first included.
        wait: ``False`` retries immediately (tests); the computed waits are still reported to ``sleep``
            as 0 so a test can count retries.
        initial: First backoff, seconds; doubles per attempt.
        max_backoff: Ceiling of one backoff wait.
        jitter: Up to this many random seconds added to each backoff.
        max_retry_after: A vendor asking for a longer wait (HubSpot's daily limit: hours) is not waited
            out inside one request; the ``RateLimitError`` propagates so the scheduler can reschedule.
        sleep: How to wait; ``None`` means ``asyncio.sleep``.
    """

    attempts: int = 5
    wait: bool = True
    initial: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 1.0
    max_retry_after: float = 120.0
    sleep: Sleep | None = None

    @classmethod
    def for_tests(cls, attempts: int = 3, sleep: Sleep | None = None) -> RetryPolicy:
        """Same decisions, no waiting."""
        return cls(attempts=attempts, wait=False, sleep=sleep)

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt only (the caller retries at a higher level)."""
        return cls(attempts=1)

    def should_retry(self, error: BaseException, idempotent: bool) -> bool:
        """Whether ``error`` deserves another attempt (attempt counting aside)."""
        if isinstance(error, RateLimitError):
            return error.retry_after is None or error.retry_after <= self.max_retry_after
        if isinstance(error, UpstreamError):
            return idempotent or not error.maybe_processed
        return isinstance(error, TransientError)

    def wait_seconds(self, error: BaseException | None, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        if not self.wait:
            return 0.0
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return error.retry_after
        backoff: float = self.initial * 2.0 ** (attempt - 1)
        return min(self.max_backoff, backoff + random.uniform(0, self.jitter))  # noqa: S311 - jitter, not crypto

    async def call(self, fn: Callable[[], Awaitable[T]], *, idempotent: bool = True) -> T:
        """Run ``fn`` until it succeeds, fails permanently, or attempts run out (last error re-raised)."""

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return self.wait_seconds(error, state.attempt_number)

        def log(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait_for = state.next_action.sleep if state.next_action else 0.0
            logger.info("retrying in %.2fs after attempt %d: %s", wait_for, state.attempt_number, error)

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            retry=tenacity.retry_if_exception(lambda e: self.should_retry(e, idempotent)),
            wait=wait,
            before_sleep=log,
            reraise=True,
            sleep=self.sleep or asyncio.sleep,
        )
        return await retrying(fn)
