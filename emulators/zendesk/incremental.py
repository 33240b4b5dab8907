"""Zendesk incremental exports, time-based and cursor-based, over a table's change-time index.

Time-based (``/incremental/tickets.json?start_time=``): up to ``per_page`` (default and max 1000) records
changed at or after ``start_time``, oldest first; ``end_time`` is the last record's timestamp and the
next page starts there, so the last second's records can repeat (Zendesk says: dedupe). When a whole
page shares one timestamp Zendesk takes every record of that second and moves ``end_time`` one second
on, so paging can never stall; the recordings show exactly that with ``per_page=1``.

Cursor-based (``/incremental/tickets/cursor.json``): strictly after the cursor, no repeats; the cursor
is base64 ``"{timestamp}.0||{id}|"`` like the real one. ``after_cursor``/``after_url`` stay set on the
last page (when it has records) so the next run resumes from them.

Deleted records stay in the index, so deleted tickets come back with ``status: "deleted"``.

Both leave out what changed within the last ``export_lag_seconds`` (Zendesk: "any items that were created
or changed within the minute prior to your request are excluded", since October 2024): a change made
just now is in the export of a minute from now, after the cursor or ``end_time`` of this one.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from itertools import islice, takewhile
from typing import Any
from urllib.parse import quote

from litestar import Request

from emulators.common.http import encode, query_int
from emulators.common.store import Table
from emulators.zendesk.desk import ApiError

MAX_EXPORT_PAGE = 1000

Req = Request[Any, Any, Any]
#: A record's bytes as the export shows it, by id.
Encode = Callable[[int], bytes]


def _per_page(request: Request[Any, Any, Any]) -> int:
    per_page = query_int(request, "per_page", MAX_EXPORT_PAGE)
    if per_page is None or per_page < 1:
        raise ApiError(400, "InvalidValue", "per_page must be a positive integer")
    return min(per_page, MAX_EXPORT_PAGE)


def _start_time(request: Request[Any, Any, Any]) -> int:
    start = query_int(request, "start_time", -1)
    if start is None or start < 0:
        raise ApiError(400, "InvalidValue", "start_time is required and must be a Unix epoch time")
    return start


def _settled(changes: Iterator[tuple[int, int]], until: int) -> Iterator[tuple[int, int]]:
    """The changes at or before ``until`` (in change order, so the first later one ends them)."""
    return takewhile(lambda change: change[0] <= until, changes)


def time_export(request: Req, table: Table, key: str, base: str, encode_row: Encode, until: int) -> bytes:
    start, per_page = _start_time(request), _per_page(request)
    changes = _settled(table.changed_since(start), until)
    page = list(islice(changes, per_page + 1))
    end_of_stream = len(page) <= per_page
    if end_of_stream:
        end_time = page[-1][0] if page else start
    else:
        page = page[:per_page]
        last = page[-1][0]
        if page[0][0] == last:
            page += _same_second(table, last, page)
            end_time = last + 1
        else:
            end_time = last
    params = f"per_page={per_page}&" if "per_page" in request.query_params else ""
    rest = {
        "count": len(page),
        "end_of_stream": end_of_stream,
        "next_page": f"{base}?{params}start_time={end_time}",
        "end_time": end_time,
    }
    return _splice(key, [encode_row(row_id) for _, row_id in page], rest)


def _same_second(table: Table, stamp: int, page: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [c for c in table.changed_since(stamp, page[-1][1]) if c[0] == stamp] if page else []


def cursor_export(request: Req, table: Table, key: str, base: str, encode_row: Encode, until: int) -> bytes:
    per_page = _per_page(request)
    cursor = request.query_params.get("cursor")
    if cursor:
        stamp, after_id = _decode(cursor)
        changes = table.changed_since(stamp, after_id)
    else:
        changes = table.changed_since(_start_time(request))
    page = list(islice(_settled(changes, until), per_page + 1))
    more = len(page) > per_page
    page = page[:per_page]
    after = _encode(*page[-1]) if page else None
    params = f"&per_page={per_page}" if "per_page" in request.query_params else ""
    rest = {
        "after_url": f"{base}?cursor={quote(after, safe='')}{params}" if after else None,
        "before_url": None,
        "after_cursor": after,
        "before_cursor": None,
        "end_of_stream": not more,
    }
    return _splice(key, [encode_row(row_id) for _, row_id in page], rest)


def _encode(stamp: int, row_id: int) -> str:
    return base64.b64encode(f"{stamp}.0||{row_id}|".encode()).decode()


def _decode(cursor: str) -> tuple[int, int]:
    try:
        stamp, _, row_id, _ = base64.b64decode(cursor).decode().split("|")
        return int(float(stamp)), int(row_id)
    except ValueError as exc:
        raise ApiError(400, "InvalidValue", "Invalid cursor") from exc


def _splice(key: str, items: list[bytes], rest: dict[str, Any]) -> bytes:
    return b'{"' + key.encode() + b'":[' + b",".join(items) + b"]," + encode(rest)[1:]
