"""Our ids for vendor records: derived, not stored-and-looked-up.

A record's id is a UUIDv5 of (linked account id, model, vendor id). Syncing the same vendor object twice
yields the same id (idempotent upserts), a relation can be written before its target arrives, and no
lookup table is needed to translate the vendor ids inside a payload. Linked account ids are random UUIDv4,
so ids of one tenant say nothing about another's.
"""

from __future__ import annotations

import hashlib
import uuid
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1024)
def _namespace(linked_account_id: str) -> bytes:
    return uuid.UUID(linked_account_id).bytes


# Sync derives several ids per record (the record's and its relations'), and the same related ids
# (assignees, organizations) recur page after page: cache them (bounded: memory must not grow with
# the data).
@lru_cache(maxsize=8192)
def record_id(linked_account_id: str, model: str, remote_id: str) -> str:
    """``str(uuid.uuid5(UUID(linked_account_id), f"{model}:{remote_id}"))``, without building UUID
    objects (uuid5 spends most of its time in ``UUID.__init__``; sync derives hundreds of thousands)."""
    name = _namespace(linked_account_id) + f"{model}:{remote_id}".encode()
    # SHA-1 is what UUIDv5 is defined with; an identifier, not a security boundary.
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def translate(linked_account_id: str, model: str, value: Any) -> Any:
    """Vendor id (or list of them) -> our id(s); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, list):
        return [record_id(linked_account_id, model, str(v)) for v in value if v is not None]
    return record_id(linked_account_id, model, str(value))
