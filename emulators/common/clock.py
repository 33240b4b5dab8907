"""Wall clock for writes and rate-limit windows; tests can pin it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Real time unless ``frozen`` is set (seconds since the epoch)."""

    def __init__(self, frozen: float | None = None) -> None:
        self.frozen = frozen

    def now(self) -> float:
        return self.frozen if self.frozen is not None else time.time()

    def advance(self, seconds: float) -> None:
        if self.frozen is None:
            self.frozen = time.time()
        self.frozen += seconds


def iso(ts: float) -> str:
    """Both vendors write UTC timestamps as ``2023-09-09T23:52:05Z``."""
    # time.strftime on a struct_time is several times cheaper than going through datetime, which
    # matters when 100,000 seeded tickets are rendered.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def parse_iso(value: str) -> float:
    """Parse an ISO-8601 instant (``Z`` or an offset, or a bare date)."""
    text = value.strip().replace("Z", "+00:00").replace(" ", "+")
    if len(text) == 10:
        text += "T00:00:00+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
