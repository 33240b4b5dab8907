"""Bearer secrets we mint (API keys, account/link/public tokens) and how they are looked up.

Every token is 256 bits from ``secrets``; we store only its SHA-256, so a leaked database does not leak
usable tokens. A readable prefix tells the kinds apart in logs and support tickets without exposing them.
"""

from __future__ import annotations

import hashlib
import secrets


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def redact(token: str) -> str:
    """What may appear in logs: the kind prefix and a few characters."""
    head, _, rest = token.partition("_")
    return f"{head}_{rest[:4]}…" if rest else "…"
