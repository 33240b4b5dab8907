"""``/sync-status`` and ``/sync-status/resync``: what the sync engine has done for the linked account."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get as get_route
from litestar import post
from litestar.params import QueryParameter
from sqlalchemy import Row

from app.api.cursor import decode_cursor, encode_cursor
from app.api.deps import Account, Conn
from app.api.records import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from app.db import syncstate
from app.timeutil import from_micros
from schemas.accounts import SyncStatus
from schemas.envelopes import Page


def _status(row: Row[Any]) -> SyncStatus:
    return SyncStatus(
        model_name=row.model,
        model_id=f"ticketing.{row.model}",
        status=row.status,
        is_initial_sync=bool(row.is_initial_sync),
        last_sync_start=from_micros(row.last_sync_start),
        next_sync_start=from_micros(row.next_sync_start),
        last_sync_result=row.last_sync_result,
        last_sync_finished=from_micros(row.last_sync_finished),
        data_fresh_as_of=from_micros(row.data_fresh_as_of),
        sync_status_reason=row.sync_status_reason,
    )


@get_route("/sync-status", operation_id="sync_status_list", tags=["sync"])
async def sync_status(
    account: Account,
    conn: Conn,
    cursor: Annotated[str | None, QueryParameter(required=False)] = None,
    page_size: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, required=False)] = DEFAULT_PAGE_SIZE,
) -> Page[SyncStatus]:
    rows = await syncstate.list_status(conn, account.id)
    start = decode_cursor(cursor).p if cursor else 0
    page = rows[start : start + page_size]
    more = start + page_size < len(rows)
    return Page(
        next=encode_cursor(start + page_size) if more else None,
        previous=encode_cursor(max(start - page_size, 0)) if start > 0 else None,
        results=[_status(r) for r in page],
    )


@post(
    "/sync-status/resync",
    status_code=200,
    operation_id="sync_status_resync_create",
    tags=["sync"],
    summary="Force a full resync of every model; returns the statuses (a bare array)",
)
async def resync(account: Account, conn: Conn) -> list[SyncStatus]:
    await syncstate.request_resync(conn, account.id)
    await conn.commit()
    return [_status(r) for r in await syncstate.list_status(conn, account.id)]


HANDLERS = [sync_status, resync]
