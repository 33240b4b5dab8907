"""Signing webhook bodies, and verifying them as a receiver would.

Two headers sign the exact body bytes with the target's secret (its UTF-8 bytes are the HMAC key):

* ``X-Merge-Webhook-Signature``: Merge's scheme, base64url (padded) HMAC-SHA256 of the raw body, so
  receivers written for Merge work unchanged. It has no timestamp, so a captured request can be replayed.
* ``X-Deskbridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``: Stripe-style. The
  timestamp is signed, so a receiver that rejects old timestamps rejects replays. Every delivery attempt
  is signed afresh (retries carry a new ``t``).

Receiver recipe (Python)::

    import hashlib, hmac, time

    def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        t = parts.get("t", "")
        if not t.isdigit() or abs(time.time() - int(t)) > tolerance:
            return False
        mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, parts.get("v1", ""))

Use the raw request bytes (not re-serialized JSON) and dedupe on ``X-Deskbridge-Event-Id``: delivery is
at least once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

MERGE_HEADER = "X-Merge-Webhook-Signature"
TIMESTAMPED_HEADER = "X-Deskbridge-Signature"
#: Seconds a receiver should accept between our timestamp and its clock (``verify``'s default).
DEFAULT_TOLERANCE = 300


def _mac(secret: str, message: bytes) -> hmac.HMAC:
    return hmac.new(secret.encode(), message, hashlib.sha256)


def merge_signature(secret: str, body: bytes) -> str:
    """Merge's header value: padded base64url of HMAC-SHA256(secret, body)."""
    return base64.urlsafe_b64encode(_mac(secret, body).digest()).decode()


def timestamped_signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = _mac(secret, str(timestamp).encode() + b"." + body).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_merge(secret: str, body: bytes, header: str) -> bool:
    """Merge's own check: padding may or may not be present, so compare without it."""
    expected = merge_signature(secret, body).rstrip("=")
    return hmac.compare_digest(expected, header.strip().rstrip("="))


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Receiver side of ``X-Deskbridge-Signature``: right MAC and a timestamp within ``tolerance``."""
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    stamp = parts.get("t", "")
    if not stamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    expected = timestamped_signature(secret, body, int(stamp)).partition(",v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))
