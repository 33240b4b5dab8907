"""Reading a vendor's rate-limit headers through a small declarative spec.

Vendors agree on the idea (remaining / reset / Retry-After) but not on names or units: Zendesk sends
``ratelimit-remaining`` + ``ratelimit-reset`` in seconds, Intercom and Front ``x-ratelimit-reset`` as a
Unix timestamp, Help Scout ``x-ratelimit-retry-after``. A vendor module states which headers it uses
in a ``HeaderSpec``; both the limiter and the response classifier read them through ``read_headers``.
Some vendors also count certain endpoints in quotas of their own and report each in a header named
after it (Zendesk: ``zendesk-ratelimit-incremental-exports: total=10; remaining=9; resets=60``); the
limiter reads those through ``read_buckets``.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from typing import Literal

import msgspec

#: Resets larger than this are absolute Unix times even when the spec says "auto" (no vendor window
#: is 30 years long).
_EPOCH_THRESHOLD = 1_000_000_000


class HeaderSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Which response headers carry a vendor's rate-limit state. Names are case-insensitive;
    each field lists candidates tried in order (vendors rename headers across API generations).

    Attributes:
        remaining: Requests left in the current window.
        limit: Size of the window's quota.
        reset: When the window resets.
        reset_kind: ``"seconds"`` (delta), ``"epoch"`` (Unix seconds), ``"epoch_ms"``, or ``"auto"``
            (delta unless the number is obviously a timestamp).
        retry_after: Headers telling how long to back off after a throttle (seconds or HTTP-date).
        buckets: Prefixes of per-endpoint quota headers, ``<prefix><bucket>: total=N; remaining=M;
            resets=S`` (seconds); the rest of the header's name names the bucket.
    """

    remaining: tuple[str, ...] = ()
    limit: tuple[str, ...] = ()
    reset: tuple[str, ...] = ()
    reset_kind: Literal["seconds", "epoch", "epoch_ms", "auto"] = "auto"
    retry_after: tuple[str, ...] = ("retry-after",)
    buckets: tuple[str, ...] = ()


class RateLimitState(msgspec.Struct, frozen=True, kw_only=True):
    """What one response said about the quota; ``None`` where it said nothing."""

    remaining: int | None = None
    limit: int | None = None
    reset_after: float | None = None
    retry_after: float | None = None


#: Only ``Retry-After`` (RFC 9110); the safe default for any vendor.
RETRY_AFTER_ONLY = HeaderSpec()

#: IETF draft ``RateLimit-*`` fields with delta-seconds reset, plus the older ``Rate-Limit-*`` spelling
#: and the ``X-Rate-Limit-Remaining`` variant (Zendesk sends all of them).
IETF_DRAFT = HeaderSpec(
    remaining=("ratelimit-remaining", "rate-limit-remaining", "x-rate-limit-remaining"),
    limit=("ratelimit-limit", "rate-limit-limit", "x-rate-limit"),
    reset=("ratelimit-reset", "rate-limit-reset"),
    reset_kind="seconds",
)

#: The common ``X-RateLimit-*`` trio with an absolute (Unix seconds) reset.
X_RATELIMIT_EPOCH = HeaderSpec(
    remaining=("x-ratelimit-remaining",),
    limit=("x-ratelimit-limit", "x-ratelimit-total"),
    reset=("x-ratelimit-reset",),
    reset_kind="epoch",
)


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is None and not hasattr(headers, "multi_items"):
            # A plain dict is case-sensitive; httpx.Headers is not. Fall back to a scan.
            value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
        if value is not None and value.strip():
            return value.strip()
    return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.split(",")[0].split(";")[0])
    except ValueError:
        return None


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

    Returns ``None`` for an absent or unparseable value, and never a negative wait.
    """
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now_epoch)


def _reset_after(raw: str | None, kind: str, now_epoch: float) -> float | None:
    value = _number(raw)
    if value is None:
        return None
    if kind == "epoch_ms":
        value = value / 1000 - now_epoch
    elif kind == "epoch" or (kind == "auto" and value > _EPOCH_THRESHOLD):
        value = value - now_epoch
    return max(0.0, value)


def read_headers(spec: HeaderSpec, headers: Mapping[str, str], now_epoch: float) -> RateLimitState:
    """Apply ``spec`` to a response's headers. ``now_epoch`` converts absolute times to delays."""
    remaining = _number(_first(headers, spec.remaining))
    limit = _number(_first(headers, spec.limit))
    return RateLimitState(
        remaining=None if remaining is None else int(remaining),
        limit=None if limit is None else int(limit),
        reset_after=_reset_after(_first(headers, spec.reset), spec.reset_kind, now_epoch),
        retry_after=parse_retry_after(_first(headers, spec.retry_after), now_epoch),
    )


#: A bucket header's fields, by what they mean (Zendesk's names first, then the IETF draft's).
_BUCKET_FIELDS = {
    "remaining": "remaining",
    "r": "remaining",
    "total": "limit",
    "limit": "limit",
    "q": "limit",
    "resets": "reset",
    "reset": "reset",
    "t": "reset",
}


def _bucket_state(value: str) -> RateLimitState:
    """``total=10; remaining=9; resets=60`` -> its state; fields it lacks or garbles are ``None``."""
    fields: dict[str, float] = {}
    for part in value.replace(",", ";").split(";"):
        key, _, number = part.partition("=")
        meaning = _BUCKET_FIELDS.get(key.strip().lower())
        parsed = _number(number.strip() or None)
        if meaning is not None and parsed is not None:
            fields[meaning] = parsed
    remaining, limit, reset = fields.get("remaining"), fields.get("limit"), fields.get("reset")
    return RateLimitState(
        remaining=None if remaining is None else int(remaining),
        limit=None if limit is None else int(limit),
        reset_after=None if reset is None else max(0.0, reset),
    )


def read_buckets(spec: HeaderSpec, headers: Mapping[str, str]) -> dict[str, RateLimitState]:
    """Each per-endpoint quota a response reports (``spec.buckets``), by bucket name."""
    if not spec.buckets:
        return {}
    found: dict[str, RateLimitState] = {}
    for name, value in headers.items():
        lowered = name.lower()
        for prefix in spec.buckets:
            if lowered.startswith(prefix) and len(lowered) > len(prefix):
                found[lowered[len(prefix) :]] = _bucket_state(value)
                break
    return found
