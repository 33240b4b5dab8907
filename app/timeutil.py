"""UTC time as the store keeps it: integer microseconds since the epoch."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)  # made once: a sync converts every record's times


def now_micros() -> int:
    return time.time_ns() // 1000


def to_micros(value: datetime) -> int:
    if value.tzinfo is None:  # naive datetimes from vendors are UTC by their documentation
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def from_micros(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)
