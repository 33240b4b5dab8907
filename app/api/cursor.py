"""Opaque keyset cursors: base64url of ``{"p": <seq>, "r": 0|1}`` (position, reverse).

Keyset positions stay valid while rows are inserted (new records land after every cursor), unlike
offsets. Clients must treat the string as opaque; we only promise it round-trips.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from app.api.errors import bad_request


class Cursor(msgspec.Struct, frozen=True, omit_defaults=True):
    p: int = 0
    r: int = 0
    #: A string key, for lists ordered by something other than ``seq`` (linked accounts: their id).
    k: str | None = None

    @property
    def reverse(self) -> bool:
        return self.r == 1


def encode_cursor(position: int = 0, *, reverse: bool = False, key: str | None = None) -> str:
    raw = msgspec.json.encode(Cursor(p=position, r=1 if reverse else 0, k=key))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        cursor = msgspec.json.decode(raw, type=Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise bad_request("cursor is not a cursor this API returned", pointer=None) from None
    if cursor.r not in (0, 1) or cursor.p < 0:
        raise bad_request("cursor is not a cursor this API returned")
    return cursor
