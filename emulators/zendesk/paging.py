"""Zendesk's two list paginations over an id-ordered table.

* Cursor (CBP): ``page[size]`` (max 100), ``page[after]`` / ``page[before]``; answers
  ``meta {has_more, after_cursor, before_cursor}`` and ``links {prev, next}``. Cursors are opaque
  base64 JSON like the real ones (``{"o":"nice_id","v":"aQEAAAAAAAAA"}``).
* Offset (OBP): ``page``, ``per_page`` (max 100); answers ``next_page``, ``previous_page``, ``count``.
  Since 2024 Zendesk refuses offset pages beyond the first 10,000 records with a 400.
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from litestar import Request

from emulators.common.http import query_int
from emulators.zendesk.desk import ApiError

MAX_PAGE = 100
OBP_RECORD_LIMIT = 10_000


def encode_cursor(order: str, row_id: int) -> str:
    value = base64.b64encode(b"i" + row_id.to_bytes(8, "little")).decode()
    return base64.b64encode(json.dumps({"o": order, "v": value}, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.b64decode(json.loads(base64.b64decode(cursor))["v"])
        return int.from_bytes(raw[1:9], "little")
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, "InvalidPaginationParameter", "page[after] is not a valid cursor") from exc


def uses_cursor(request: Request[Any, Any, Any]) -> bool:
    return any(key.startswith("page[") for key in request.query_params)


def cursor_page(
    request: Request[Any, Any, Any],
    ids: list[int],
    key: str,
    order: str,
    base: str,
    encode: Callable[[int], bytes],
) -> bytes:
    """One CBP page over ``ids`` (ascending); records are pre-encoded by ``encode``."""
    size = query_int(request, "page[size]", 100)
    if size is None or size < 1:
        raise ApiError(400, "InvalidPaginationParameter", "page[size] must be a positive integer")
    size = min(size, MAX_PAGE)
    after, before = request.query_params.get("page[after]"), request.query_params.get("page[before]")
    if before:
        end = bisect.bisect_left(ids, decode_cursor(before))
        page = ids[max(0, end - size) : end]
        has_more = end - size > 0
    else:
        start = bisect.bisect_right(ids, decode_cursor(after)) if after else 0
        page = ids[start : start + size]
        has_more = start + size < len(ids)
    ids = page
    first = encode_cursor(order, ids[0]) if ids else None
    last = encode_cursor(order, ids[-1]) if ids else None
    links = {
        "prev": _link(base, "before", first, size) if first else None,
        "next": _link(base, "after", last, size) if last else None,
    }
    meta = {"has_more": has_more, "after_cursor": last, "before_cursor": first}
    return _envelope(key, [encode(i) for i in ids], {"meta": meta, "links": links})


def offset_page(
    request: Request[Any, Any, Any],
    ids: list[int],
    key: str,
    base: str,
    encode: Callable[[int], bytes],
    limit_records: bool = True,
) -> bytes:
    page, per_page = query_int(request, "page", 1), query_int(request, "per_page", 100)
    if page is None or per_page is None or page < 1 or per_page < 1:
        raise ApiError(400, "InvalidPaginationParameter", "page and per_page must be positive integers")
    per_page = min(per_page, MAX_PAGE)
    start = (page - 1) * per_page
    if limit_records and start >= OBP_RECORD_LIMIT:
        raise ApiError(
            400,
            "InvalidPaginationParameter",
            "Offset pagination is limited to the first 10000 records. Use cursor pagination instead.",
        )
    chunk = ids[start : start + per_page]
    extra = [(k, v) for k, v in request.query_params.items() if k not in ("page", "per_page")]
    tail = "".join(f"&{k}={v}" for k, v in extra) + (
        f"&per_page={per_page}" if "per_page" in request.query_params else ""
    )
    more = start + per_page < len(ids)
    return _envelope(
        key,
        [encode(i) for i in chunk],
        {
            "next_page": f"{base}?page={page + 1}{tail}" if more else None,
            "previous_page": f"{base}?page={page - 1}{tail}" if page > 1 else None,
            "count": len(ids),
        },
    )


def _link(base: str, direction: str, cursor: str, size: int) -> str:
    return f"{base}?page%5B{direction}%5D={quote(cursor, safe='')}&page%5Bsize%5D={size}"


def _envelope(key: str, items: list[bytes], rest: dict[str, Any]) -> bytes:
    """Splice pre-encoded records into the envelope without decoding them again."""
    tail = json.dumps(rest, separators=(",", ":"))
    return b'{"' + key.encode() + b'":[' + b",".join(items) + b"]," + tail[1:].encode()
