"""Knobs shared by every emulator: seed and size of the generated desk, rate limits, fault rates.

Plain mutable dataclasses rather than frozen structs on purpose: a test (or the ``/_emulator/faults``
admin endpoint) flips ``config.faults`` or ``config.rate_limit`` while the app is serving, and the next
request sees the change.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: 2025-01-01T00:00:00Z. Seeded records are dated in the ``history_days`` before this instant, so the same
#: seed gives the same bytes on any day. Pass the current time to get "recent" data (Freshdesk's 30-day
#: default window only shows tickets created in the last 30 days of the wall clock).
DEFAULT_ANCHOR = 1_735_689_600

FAULT_KINDS = ("429", "500", "drop", "slow", "truncate")


@dataclass
class Faults:
    """Probabilities (0..1) of each injected fault per request, drawn from a seeded RNG.

    ``script`` holds faults forced on the next requests, in order (e.g. ``faults.inject("drop", "500")``),
    which is what a test wants when it must know exactly which request fails.
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    rate_slow: float = 0.0
    rate_truncate: float = 0.0
    #: How long a "slow" response stalls before it is answered, in real seconds.
    slow_seconds: float = 2.0
    #: ``Retry-After`` sent with an injected 429 (seconds).
    retry_after: int = 1
    script: deque[str] = field(default_factory=deque)

    def inject(self, *kinds: str) -> None:
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; expected one of {FAULT_KINDS}")
            self.script.append(kind)

    def clear(self) -> None:
        self.rate_429 = self.rate_500 = self.rate_drop = self.rate_slow = self.rate_truncate = 0.0
        self.script.clear()

    def as_dict(self) -> dict[str, object]:
        return {
            "rate_429": self.rate_429,
            "rate_500": self.rate_500,
            "rate_drop": self.rate_drop,
            "rate_slow": self.rate_slow,
            "rate_truncate": self.rate_truncate,
            "slow_seconds": self.slow_seconds,
            "retry_after": self.retry_after,
            "script": list(self.script),
        }


@dataclass
class RateLimit:
    """The vendor's per-minute quota. ``time_scale`` > 1 makes a "minute" pass faster than real time
    (60 / time_scale real seconds), so a benchmark can enforce a per-minute quota without waiting minutes."""

    per_minute: int = 700
    time_scale: float = 1.0
    enabled: bool = True
    #: Also enforce the vendor's documented per-endpoint limits (e.g. Zendesk incremental exports 10/min).
    endpoint_limits: bool = True


@dataclass
class EmulatorConfig:
    seed: int = 1
    tickets: int = 100
    anchor_time: int = DEFAULT_ANCHOR
    history_days: int = 365
    rate_limit: RateLimit = field(default_factory=RateLimit)
    faults: Faults = field(default_factory=Faults)
    #: Real seconds every request takes before the vendor sees it: a vendor that far away (a
    #: benchmark's client must keep several requests in flight to use its quota).
    latency_seconds: float = 0.0
