"""A short-lived cache of who is calling, so hot read paths skip two lookups per request.

API keys and account tokens are looked up by hash on every request; those rows change rarely (a
relink, a deletion, a credential failure). Entries live ``ttl`` seconds and every change to linked
accounts made in this process clears the cache at once, so only other processes sharing a PostgreSQL
store can see a deleted account's token for up to ``ttl`` seconds.
"""

from __future__ import annotations

import time
from typing import Any

DEFAULT_TTL = 2.0


class AuthCache:
    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, ...], tuple[float, Any]] = {}

    def get(self, key: tuple[str, ...]) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            del self._entries[key]
            return None
        return value

    def put(self, key: tuple[str, ...], value: Any) -> None:
        if len(self._entries) > 10_000:  # bounded: drop everything rather than track recency
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._entries.clear()
