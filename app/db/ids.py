"""Our ids for vendor records: derived, not stored-and-looked-up.

A record's id is a UUIDv5 of (linked account id, model, vendor id). Syncing the same vendor object twice
yields the same id (idempotent upserts), a relation can be written before its target arrives, and no
lookup table is needed to translate the vendor ids inside a payload. Linked account ids are random UUIDv4,
so ids of one tenant say nothing about another's.
"""

from __future__ import annotations

import uuid
from typing import Any


def record_id(linked_account_id: str, model: str, remote_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(linked_account_id), f"{model}:{remote_id}"))


def translate(linked_account_id: str, model: str, value: Any) -> Any:
    """Vendor id (or list of them) -> our id(s); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, list):
        return [record_id(linked_account_id, model, str(v)) for v in value if v is not None]
    return record_id(linked_account_id, model, str(value))
